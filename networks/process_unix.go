//go:build unix

package networks

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
)

// sysProcAttr puts a validator in its own session: a terminal's Ctrl-C
// reaches only the supervisor, and a detached validator outlives it.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

func signalPID(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }

// processAlive reports whether pid is a live (not zombie) process. On
// Linux it also checks that the process is `phalanxd start` for home, so a
// recycled pid is not mistaken for the validator.
func processAlive(pid int, home string) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if runtime.GOOS != "linux" {
		return true
	}
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(proc, "stat"))
	if err != nil {
		return false
	}
	// stat is "pid (comm) S …"; comm may hold spaces and parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
		return false
	}
	cmdline, err := os.ReadFile(filepath.Join(proc, "cmdline"))
	if err != nil {
		return false
	}
	args := bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0})
	for i := 0; i+1 < len(args); i++ {
		if string(args[i]) == "--home" && filepath.Clean(string(args[i+1])) == filepath.Clean(home) {
			return true
		}
		if a := string(args[i]); a == "--home="+home {
			return true
		}
	}
	return false
}
