package jobs

// SetSpillRecords sets the size from which a partition is written as a large
// one (pages on disk, smaller pages, no overlap), for a test; it returns the
// restore function.
func SetSpillRecords(n int) (restore func()) {
	old := spillRecords
	spillRecords = n
	return func() { spillRecords = old }
}
