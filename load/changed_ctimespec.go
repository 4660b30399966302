//go:build darwin || freebsd || netbsd

package load

import (
	"syscall"
	"time"
)

func statusChanged(st *syscall.Stat_t) time.Time { return time.Unix(st.Ctimespec.Unix()) }
