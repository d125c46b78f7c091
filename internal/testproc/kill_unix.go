//go:build unix

package testproc

import (
	"os/exec"
	"syscall"
)

// killGroup signals the group: its id is the leader's pid, and a negative
// pid signals the group.
func killGroup(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
