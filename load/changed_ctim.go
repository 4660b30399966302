//go:build linux || openbsd || dragonfly || solaris || illumos

package load

import (
	"syscall"
	"time"
)

func statusChanged(st *syscall.Stat_t) time.Time { return time.Unix(st.Ctim.Unix()) }
