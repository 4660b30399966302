//go:build linux || openbsd || dragonfly || solaris || illumos || darwin || freebsd || netbsd

package load

import (
	"io/fs"
	"syscall"
	"time"
)

// lastChanged is the later of fi's modification and status-change times:
// a hard link or a rename changes the second, never the first.
func lastChanged(fi fs.FileInfo) time.Time {
	t := fi.ModTime()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if c := statusChanged(st); c.After(t) {
			return c
		}
	}
	return t
}
