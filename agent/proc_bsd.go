//go:build unix && !linux

package agent

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts a task in its own process group. Only Linux can tie a
// child's life to its parent's (Pdeathsig); elsewhere the reaper alone
// kills the tasks of an agent that died.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func startProcess(cmd *exec.Cmd) error { return cmd.Start() }

func isZombie(int) bool { return false }

func groupHasLiveMember(int) bool { return true }

const pdeathsigSupported = false
