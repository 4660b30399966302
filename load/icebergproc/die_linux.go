package icebergproc

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the process killed when the job's process dies, even
// by SIGKILL, as the catalog was when it ran inside the job: a killed run
// leaves nothing running behind it. (Elsewhere the process notices its
// stdin close, finishes what it was asked and exits.)
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
