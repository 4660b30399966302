//go:build !linux

package loadtest

import "os/exec"

func dieWithTest(*exec.Cmd) {}
