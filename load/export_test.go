package load

// SetMaxCopy lowers the size above which s.Copy reads and uploads the object
// instead of having S3 copy it, so that a test need not write 5 GiB.
func SetMaxCopy(s *S3Store, n int64) { s.maxCopy = n }
