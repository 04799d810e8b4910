//go:build !unix

package networks

import (
	"fmt"
	"runtime"
	"syscall"
)

// Supervising processes needs Unix sessions and signals;
// InitTestnet and Status work everywhere.

func sysProcAttr() *syscall.SysProcAttr { return nil }

func signalPID(pid int, _ syscall.Signal) error {
	return fmt.Errorf("signalling pid %d: not supported on %s; stop the validator by hand", pid, runtime.GOOS)
}

func processAlive(int, Process) bool { return false }
