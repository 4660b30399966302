package iceberg

import "time"

// SetCommitRetry sets how c retries a commit that lost to another writer,
// for tests that must not wait the job's minutes.
func SetCommitRetry(c *Catalog, retries int, minWait, maxWait, total time.Duration) {
	c.retry = commitRetry{retries: retries, minWait: minWait, maxWait: maxWait, total: total}
}

// CommitRetryWait is the pause before retry n of the job's own retries.
func CommitRetryWait(n int) time.Duration { return defaultCommitRetry.wait(n) }
