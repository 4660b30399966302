package load

// SetMaxCopy lowers the size above which s.Copy reads and uploads the object
// instead of having S3 copy it, so that a test need not write 5 GiB.
func SetMaxCopy(s *S3Store, n int64) { s.maxCopy = n }

// TakeShelvedWriter takes a writer of T built with opts off its shelf, and
// reports whether there was one.
func TakeShelvedWriter[T any](opts ParquetOptions) bool {
	return shelfFor[T](opts.withDefaults()).take() != nil
}
