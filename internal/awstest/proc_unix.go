//go:build unix

package awstest

import (
	"os/exec"
	"syscall"
)

func killProcessGroup(cmd *exec.Cmd) {
	// The group id is the leader's pid; a negative pid signals the group.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
