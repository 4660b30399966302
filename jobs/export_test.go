package jobs

// SetSpillRecords sets the size from which a partition is written as a large
// one (pages on disk, smaller pages, no overlap), for a test; it returns the
// restore function.
func SetSpillRecords(n int) (restore func()) {
	old := spillRecords
	spillRecords = n
	return func() { spillRecords = old }
}

// SetImportSpoolBytes sets the bounds of an import's spool (any input, and one
// date of sorted input) for a test; it returns the restore function.
func SetImportSpoolBytes(any, day int64) (restore func()) {
	old, oldDay := importSpoolBytes, importDayBytes
	importSpoolBytes, importDayBytes = any, day
	return func() { importSpoolBytes, importDayBytes = old, oldDay }
}
