package loadtest

import (
	"os/exec"
	"syscall"
)

// dieWithTest has a server killed when the test binary dies, even when no
// cleanup runs (-timeout's panic, a SIGKILL): a dead test leaves no server
// behind holding its port and memory.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
