//go:build unix && !aix && !(solaris && !illumos)

package load

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive flock(2) on the file name, creating it if
// needed, and blocks until it is granted. Locks held by other processes are
// honoured; within a process, callers must also serialise themselves (flock
// locks belong to open file descriptions, so two descriptors in one process
// exclude each other too, but only at the cost of a blocked thread).
func lockFile(name string) (unlock func(), err error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	for {
		err = syscall.Flock(fd, syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(fd, syscall.LOCK_UN)
		f.Close()
	}, nil
}
