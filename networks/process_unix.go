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

// sysProcAttr puts a process in its own session: a terminal's Ctrl-C
// reaches only the supervisor, and a detached process outlives it.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

func signalPID(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }

// processAlive reports whether pid is a live (not zombie) process. On
// Linux it also checks that the process is p (its subcommand, --home and
// --key, see Process.matchesCmdline), so a recycled pid is not mistaken
// for it.
func processAlive(pid int, p Process) bool {
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
	var argv []string
	for _, a := range bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0}) {
		argv = append(argv, string(a))
	}
	return p.matchesCmdline(argv)
}
