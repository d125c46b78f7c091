//go:build unix && !linux

package awstest

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the server in a process group of its own, so that stop
// reaches the Python process behind a moto_server shim (pyenv, pipx).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
