package jobs

// SetSpillRecords sets the size from which a partition is written as a large
// one (pages on disk, smaller pages, no overlap), for a test; it returns the
// restore function.
func SetSpillRecords(n int) (restore func()) {
	old := spillRecords
	spillRecords = n
	return func() { spillRecords = old }
}

// SetImportSpoolBytes sets the spool size past which an import loads every
// date spooled so far, for a test; it returns the restore function.
func SetImportSpoolBytes(n int64) (restore func()) {
	old := importSpoolBytes
	importSpoolBytes = n
	return func() { importSpoolBytes = old }
}
