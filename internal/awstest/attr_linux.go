package awstest

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the server in a process group of its own, so that stop
// reaches the Python process behind a moto_server shim (pyenv, pipx), and
// asks the kernel to kill it should the test binary die without stopping it
// (a panic, go test's -timeout). The death signal follows the thread that
// started the child, which is why start runs on a locked thread that lives
// as long as the server.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
