//go:build !unix

package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// The agent runs tasks as Unix process groups; on other systems it builds
// but refuses to run them.

var errUnsupported = fmt.Errorf("running tasks is not supported on %s: the agent needs Unix process groups", runtime.GOOS)

func sysProcAttr() *syscall.SysProcAttr { return nil }

func startProcess(*exec.Cmd) error { return errUnsupported }

func termGroup(int) error { return errUnsupported }
func killGroup(int) error { return errUnsupported }

func waitGroupGone(context.Context, int, time.Duration) error { return nil }

func signalOf(*os.ProcessState) (syscall.Signal, bool) { return 0, false }

// ProcessAlive is not supported here.
func ProcessAlive(int) bool { return false }
