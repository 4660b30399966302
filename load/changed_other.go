//go:build !(linux || openbsd || dragonfly || solaris || illumos || darwin || freebsd || netbsd)

package load

import (
	"io/fs"
	"time"
)

// lastChanged is fi's modification time: this system's status-change time
// is not read, so a link of an old file made just now looks old.
func lastChanged(fi fs.FileInfo) time.Time { return fi.ModTime() }
