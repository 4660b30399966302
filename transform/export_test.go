package transform

// SimulatorRecords lends the external tests the simulator's records.
var SimulatorRecords = simulatorRecords
