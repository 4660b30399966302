package iceberg

import (
	"time"

	"github.com/apache/iceberg-go/catalog"
)

// SetCommitRetry sets how c retries a commit that lost to another writer,
// for tests that must not wait the job's minutes.
func SetCommitRetry(c *Catalog, retries int, minWait, maxWait, total time.Duration) {
	c.retry = commitRetry{retries: retries, minWait: minWait, maxWait: maxWait, total: total}
}

// CommitRetryWait is the pause before retry n of the job's own retries.
func CommitRetryWait(n int) time.Duration { return defaultCommitRetry.wait(n) }

// WrapCatalog puts wrap's catalog between c and the one it opened, for
// tests that make a race at a commit.
func WrapCatalog(c *Catalog, wrap func(catalog.Catalog) catalog.Catalog) { c.cat = wrap(c.cat) }
