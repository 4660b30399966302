package jobs

import (
	"context"
	"errors"

	"github.com/callrecords-etl/callrecords-etl/extract"
)

// Exit codes of the command. Stable: schedulers key retries on them.
const (
	ExitOK           = 0
	ExitFailed       = 1 // transient or unexpected: worth retrying
	ExitConfig       = 2 // configuration, credentials or a destination that refuses the job: fix, do not retry
	ExitRetentionGap = 3 // completed, but some data had expired before it was read
	ExitQuarantined  = 4 // completed, but some records could not be processed (kept under _etl/quarantine/)
	ExitLocked       = 5 // another run holds the tenant's lease: nothing was done
	ExitCancelled    = 130
)

// ExitCode maps the error of a run (or of any call of this package) to the
// command's exit code.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, context.Canceled):
		return ExitCancelled
	case errors.Is(err, ErrConfig), errors.Is(err, extract.ErrAuth):
		return ExitConfig
	case errors.Is(err, ErrLocked):
		return ExitLocked
	case errors.Is(err, ErrRetentionGap):
		return ExitRetentionGap
	case errors.Is(err, ErrQuarantined):
		return ExitQuarantined
	}
	return ExitFailed
}
