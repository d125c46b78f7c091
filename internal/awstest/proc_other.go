//go:build !unix

package awstest

import "os/exec"

func setProcAttr(*exec.Cmd) {}

func killProcessGroup(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
