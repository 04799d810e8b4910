//go:build unix

package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// termGroup sends SIGTERM to process group pgid.
func termGroup(pgid int) error { return signalGroup(pgid, syscall.SIGTERM) }

// killGroup sends SIGKILL to process group pgid.
func killGroup(pgid int) error { return signalGroup(pgid, syscall.SIGKILL) }

func signalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return fmt.Errorf("refusing to signal process group %d", pgid)
	}
	err := syscall.Kill(-pgid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// groupGone reports whether process group pgid has no live member left
// (zombies waiting for a parent that does not reap them do not count).
func groupGone(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	return !groupHasLiveMember(pgid)
}

// waitGroupGone polls until process group pgid is gone, at most within.
func waitGroupGone(ctx context.Context, pgid int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for !groupGone(pgid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("process group %d still has live members after %s", pgid, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(groupPoll):
		}
	}
	return nil
}

// signalOf returns the signal that killed the process, if one did.
func signalOf(ps *os.ProcessState) (syscall.Signal, bool) {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0, false
	}
	return ws.Signal(), true
}

// ProcessAlive reports whether pid is a live process (not a zombie).
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	return !isZombie(pid)
}
