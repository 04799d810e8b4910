//go:build unix

package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The reaper makes an agent's tasks die with it, descendants included.
//
// Pdeathsig (Linux) kills a task's first process when the agent dies, but
// not the processes that one started: a shell's children survive it. So
// the agent starts one small helper process, the reaper, and tells it over
// a pipe the process group of every task it starts and ends. When the
// agent dies — however: exit, panic, SIGKILL — the kernel closes the
// agent's end of the pipe; the reaper reads EOF, SIGKILLs every group
// still registered, and exits. The reaper runs in its own process group
// and ignores SIGINT, SIGTERM and SIGHUP, so that a Ctrl-C or a signal to
// the agent's group does not take it down first.
//
// The reaper also holds the self-fencing deadlines (ADR 0021): the agent
// sends "@PGID UNIXMS", and the reaper SIGKILLs group PGID at that wall
// time unless a later line moved it ("@PGID 0" clears it). So a task is
// stopped on time even when the agent itself cannot act: paused
// (SIGSTOP), or stuck.

// reaperReadyLine is what the reaper prints once it is listening.
const reaperReadyLine = "phalanx-reaper ready"

// reaperStartTimeout bounds the wait for the reaper to be ready.
const reaperStartTimeout = 10 * time.Second

// Reaper is the agent's side of the reaper process. It implements
// GroupTracker.
type Reaper struct {
	cmd  *exec.Cmd
	logf func(format string, args ...any)

	mu     sync.Mutex
	w      io.WriteCloser
	broken bool
}

// StartReaper starts the reaper process argv (a program that calls
// RunReaper, e.g. `phalanxd agent reaper`) with the agent's environment
// plus env, and waits until it is ready.
func StartReaper(argv, env []string, logf func(format string, args ...any)) (*Reaper, error) {
	if len(argv) == 0 {
		return nil, errors.New("reaper: empty command")
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start reaper %q: %w", argv[0], err)
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != reaperReadyLine {
			err = fmt.Errorf("unexpected first line %q", line)
		}
		ready <- err
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case err = <-ready:
	case <-time.After(reaperStartTimeout):
		err = fmt.Errorf("not ready within %s", reaperStartTimeout)
	}
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("reaper %q: %w", argv[0], err)
	}
	go func() { _ = cmd.Wait() }()
	return &Reaper{cmd: cmd, w: w, logf: logf}, nil
}

// PID is the reaper's process id.
func (r *Reaper) PID() int { return r.cmd.Process.Pid }

// Add registers a task's process group.
func (r *Reaper) Add(pgid int) { r.send('+', pgid) }

// Remove unregisters a process group that is gone.
func (r *Reaper) Remove(pgid int) { r.send('-', pgid) }

// Deadline has the reaper SIGKILL group pgid at wall time at, unless a
// later call moves it; a zero at clears it.
func (r *Reaper) Deadline(pgid int, at time.Time) {
	ms := int64(0)
	if !at.IsZero() {
		ms = at.UnixMilli()
	}
	r.sendLine(fmt.Sprintf("@%d %d\n", pgid, ms))
}

func (r *Reaper) send(op byte, pgid int) { r.sendLine(fmt.Sprintf("%c%d\n", op, pgid)) }

func (r *Reaper) sendLine(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broken {
		return
	}
	if _, err := io.WriteString(r.w, line); err != nil {
		r.broken = true
		r.logf("reaper (pid %d) is gone: %v; if the agent dies now, only the tasks' first processes die with it", r.cmd.Process.Pid, err)
	}
}

// Close ends the reaper: it kills the groups still registered, if any, and
// exits.
func (r *Reaper) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.broken = true
	return r.w.Close()
}

// RunReaper is the reaper process's main function: it prints a ready line
// on out, then reads "+PGID", "-PGID" and "@PGID UNIXMS" lines from in
// until EOF, SIGKILLing a group whose deadline passes, and then SIGKILLs
// every process group still registered.
func RunReaper(in io.Reader, out io.Writer) error {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	if _, err := fmt.Fprintln(out, reaperReadyLine); err != nil {
		return err
	}
	var mu sync.Mutex
	groups := map[int]bool{}
	deadlines := map[int]int64{} // pgid -> unix ms
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(reaperDeadlineCheck)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			now := time.Now().UnixMilli()
			mu.Lock()
			for pgid, at := range deadlines {
				if now >= at {
					_ = killGroup(pgid)
					delete(deadlines, pgid)
					fmt.Fprintf(os.Stderr, "phalanx-reaper: self-fencing deadline passed %d ms ago: SIGKILL to process group %d\n", now-at, pgid)
				}
			}
			mu.Unlock()
		}
	}()
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if len(line) < 2 {
			continue
		}
		arg, at, _ := strings.Cut(line[1:], " ")
		pgid, err := strconv.Atoi(arg)
		if err != nil || pgid <= 1 {
			continue
		}
		mu.Lock()
		switch line[0] {
		case '+':
			groups[pgid] = true
		case '-':
			delete(groups, pgid)
			delete(deadlines, pgid)
		case '@':
			if ms, err := strconv.ParseInt(at, 10, 64); err == nil && ms > 0 && groups[pgid] {
				deadlines[pgid] = ms
			} else {
				delete(deadlines, pgid)
			}
		}
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	for pgid := range groups {
		_ = killGroup(pgid)
	}
	return nil
}

// reaperDeadlineCheck is how often the reaper looks at the deadlines.
const reaperDeadlineCheck = 50 * time.Millisecond
