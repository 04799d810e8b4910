package networks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/phalanx-bft/phalanx/config"
)

// Files in a validator home that the supervisor owns.
const (
	PIDFile = "phalanxd.pid"
	LogFile = "node.log"
)

// Defaults of Start and Stop.
const (
	DefaultWaitHeight   = 2
	DefaultStartTimeout = 60 * time.Second
	DefaultStopTimeout  = 30 * time.Second
	// pollInterval is how often Start and Stop look at the validators.
	pollInterval = 100 * time.Millisecond
	// killWait bounds the wait for a process to vanish after SIGKILL.
	killWait = 10 * time.Second
	// logTailLines is how much of node.log an error quotes.
	logTailLines = 15
)

// PIDPath is the pid file of validator v.
func PIDPath(v Validator) string { return filepath.Join(v.Home, PIDFile) }

// LogPath is the log file of validator v.
func LogPath(v Validator) string { return filepath.Join(v.Home, LogFile) }

// StartOptions are the arguments of Start.
type StartOptions struct {
	// Only names the validators to start ("val2"); empty means all.
	Only []string
	// Binary is the phalanxd to run (default: this executable).
	Binary string
	// WaitHeight is the height every started validator must have
	// committed, and not be catching up, before Start returns (default
	// DefaultWaitHeight). When validators outside Only are up, Start
	// also waits for the highest height they had at launch.
	WaitHeight int64
	// Timeout bounds the wait (default DefaultStartTimeout).
	Timeout time.Duration
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

// Exit reports a supervised validator process that ended.
type Exit struct {
	Name string
	PID  int
	Err  error // nil: exit status 0
}

// Network is a set of validator processes started by Start. They run in
// their own sessions and outlive the caller unless it stops them
// (Supervise, Stop).
type Network struct {
	Manifest *Manifest
	// Started are the validators this Start launched, in manifest order.
	Started []Validator
	// Elapsed is the time from the first launch to WaitHeight on all.
	Elapsed time.Duration

	procs []*proc
	exits chan Exit
}

type proc struct {
	v    Validator
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done is closed
}

// Start launches the selected validators of a loopback network, each as
// `BINARY start --home HOME` in its own session with output appended to
// HOME/node.log and its pid in HOME/phalanxd.pid, and waits until each has
// committed opts.WaitHeight (or the height the validators already running
// had at launch, if higher) and is not catching up. It refuses validators
// that are already running and ports that are taken. When the wait fails
// it stops what it launched and returns an error quoting their logs.
func Start(ctx context.Context, m *Manifest, opts StartOptions) (*Network, error) {
	if err := m.requireLoopback("start"); err != nil {
		return nil, err
	}
	sel, err := m.Select(opts.Only)
	if err != nil {
		return nil, err
	}
	if opts.WaitHeight <= 0 {
		opts.WaitHeight = DefaultWaitHeight
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultStartTimeout
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.Binary == "" {
		if opts.Binary, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find the phalanxd binary to run: %w", err)
		}
	}
	if err := checkStartable(m, sel); err != nil {
		return nil, err
	}

	fmt.Fprintf(opts.Progress, "starting %d validator(s) of %s, chain %s\n", len(sel), m.Dir, m.ChainID)
	// A validator restarted into a running network must also catch up
	// with the others: wait for the height they have now.
	if h := othersHeight(ctx, m, sel); h > opts.WaitHeight {
		fmt.Fprintf(opts.Progress, "the other validators are at height %d; waiting for the started ones to reach it\n", h)
		opts.WaitHeight = h
	}
	n := &Network{Manifest: m, Started: sel, exits: make(chan Exit, len(sel))}
	began := time.Now()
	for _, v := range sel {
		p, err := launch(opts.Binary, v, n.exits)
		if err != nil {
			n.stopLaunched()
			return nil, err
		}
		n.procs = append(n.procs, p)
		fmt.Fprintf(opts.Progress, "started %s (pid %d), log %s\n", v.Name, p.cmd.Process.Pid, LogPath(v))
	}
	if err := n.waitReady(ctx, opts); err != nil {
		n.stopLaunched()
		return nil, err
	}
	n.Elapsed = time.Since(began)
	return n, nil
}

// othersHeight is the highest height among the up validators not in sel.
func othersHeight(ctx context.Context, m *Manifest, sel []Validator) int64 {
	chosen := make(map[string]bool, len(sel))
	for _, v := range sel {
		chosen[v.Name] = true
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var h int64
	for _, v := range m.Validators {
		if chosen[v.Name] {
			continue
		}
		wg.Go(func() {
			st := queryStatus(ctx, v, time.Second)
			mu.Lock()
			defer mu.Unlock()
			if st.Up && st.Height > h {
				h = st.Height
			}
		})
	}
	wg.Wait()
	return h
}

// checkStartable refuses running validators, missing homes and taken ports.
func checkStartable(m *Manifest, sel []Validator) error {
	var running, problems []string
	for _, v := range sel {
		if pid, ok := runningPID(v); ok {
			running = append(running, fmt.Sprintf("%s (pid %d)", v.Name, pid))
			continue
		}
		if _, err := os.Stat(config.CometFile(v.Home)); err != nil {
			problems = append(problems, fmt.Sprintf("%s: no config at %s (was the network initialised there?)", v.Name, config.CometFile(v.Home)))
			continue
		}
		for _, a := range listenAddrs(v) {
			l, err := net.Listen("tcp", a.addr)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s port %s is taken by another process (another network? re-init with another --base-port)", v.Name, a.what, a.addr))
				continue
			}
			_ = l.Close()
		}
	}
	if len(running) > 0 {
		return fmt.Errorf("%w: %s; stop them with `phalanxd testnet stop %s` (--only NAME for one validator)",
			ErrAlreadyRunning, strings.Join(running, ", "), m.Dir)
	}
	if len(problems) > 0 {
		return fmt.Errorf("cannot start: %s", strings.Join(problems, "; "))
	}
	return nil
}

type listenAddr struct{ what, addr string }

// listenAddrs are the loopback addresses validator v will bind.
func listenAddrs(v Validator) []listenAddr {
	var out []listenAddr
	if _, hp, ok := strings.Cut(v.P2P, "@"); ok {
		out = append(out, listenAddr{"p2p", hp})
	}
	if hp, ok := strings.CutPrefix(v.RPC, "tcp://"); ok {
		out = append(out, listenAddr{"rpc", hp})
	}
	if v.Prometheus != "" {
		out = append(out, listenAddr{"prometheus", v.Prometheus})
	}
	return out
}

// launch starts one validator process and reaps it in the background.
func launch(binary string, v Validator, exits chan<- Exit) (*proc, error) {
	logf, err := os.OpenFile(LogPath(v), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", v.Name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n=== %s: %s start --home %s (phalanxd testnet start) ===\n", time.Now().Format(time.RFC3339), binary, v.Home)
	cmd := exec.Command(binary, "start", "--home", v.Home)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: run %s: %w", v.Name, binary, err)
	}
	pid := cmd.Process.Pid
	p := &proc{v: v, cmd: cmd, done: make(chan struct{})}
	if err := os.WriteFile(PIDPath(v), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s: write pid file: %w", v.Name, err)
	}
	go func() {
		p.err = cmd.Wait()
		// The pid file is ours only while it still names this process.
		if b, err := os.ReadFile(PIDPath(v)); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(pid) {
			_ = os.Remove(PIDPath(v))
		}
		close(p.done)
		exits <- Exit{Name: v.Name, PID: pid, Err: p.err}
	}()
	return p, nil
}

// waitReady polls every launched validator's RPC until all have reached
// opts.WaitHeight, one has exited, or the deadline passes.
func (n *Network) waitReady(ctx context.Context, opts StartOptions) error {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	ready := make(map[string]bool, len(n.procs))
	last := make(map[string]string, len(n.procs))
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		for _, p := range n.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited while starting (%v); last lines of %s:\n%s", p.v.Name, exitText(p.err), LogPath(p.v), logTail(LogPath(p.v), logTailLines))
			default:
			}
			if ready[p.v.Name] {
				continue
			}
			st := queryStatus(ctx, p.v, time.Second)
			switch {
			case !st.Up:
				last[p.v.Name] = "RPC not answering: " + st.Error
			case st.CatchingUp:
				last[p.v.Name] = fmt.Sprintf("catching up at height %d", st.Height)
			case st.Height < opts.WaitHeight:
				last[p.v.Name] = fmt.Sprintf("at height %d", st.Height)
			default:
				ready[p.v.Name] = true
				fmt.Fprintf(opts.Progress, "%s at height %d\n", p.v.Name, st.Height)
			}
		}
		if len(ready) == len(n.procs) {
			return nil
		}
		select {
		case <-ctx.Done():
			var b strings.Builder
			fmt.Fprintf(&b, "validators did not reach height %d within %s:", opts.WaitHeight, opts.Timeout)
			for _, p := range n.procs {
				if !ready[p.v.Name] {
					fmt.Fprintf(&b, "\n%s: %s; last lines of %s:\n%s", p.v.Name, last[p.v.Name], LogPath(p.v), logTail(LogPath(p.v), logTailLines))
				}
			}
			if ctx.Err() == context.Canceled {
				return fmt.Errorf("start interrupted: %w", ctx.Err())
			}
			return errors.New(b.String())
		case <-tick.C:
		}
	}
}

// stopLaunched stops this Start's processes (after a failed start).
func (n *Network) stopLaunched() {
	var names []string
	for _, p := range n.procs {
		names = append(names, p.v.Name)
	}
	if len(names) > 0 {
		_, _ = Stop(context.Background(), n.Manifest, StopOptions{Only: names, Timeout: 10 * time.Second})
	}
}

// Exits delivers one Exit per launched process that ends, whatever the
// cause (a crash, `testnet kill`, Stop).
func (n *Network) Exits() <-chan Exit { return n.exits }

// Supervise blocks until ctx is done, reporting to w each validator
// process that exits meanwhile (the others keep running: the network
// tolerates f failures), then stops the validators this Start launched,
// by their pid files, so one restarted meanwhile with `testnet start
// --only` is stopped too. It also returns, with nothing to stop, once
// none of those validators runs any more (all stopped from elsewhere,
// e.g. by `testnet stop`).
func (n *Network) Supervise(ctx context.Context, w io.Writer) ([]StopResult, error) {
	if w == nil {
		w = io.Discard
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return n.stopAll(w)
		case e := <-n.exits:
			if e.Err == nil {
				fmt.Fprintf(w, "%s (pid %d) stopped\n", e.Name, e.PID)
			} else {
				fmt.Fprintf(w, "%s (pid %d) exited: %v; see %s\n", e.Name, e.PID, e.Err, filepath.Join(n.Manifest.Dir, e.Name, LogFile))
			}
		case <-tick.C:
			if !n.anyRunning() {
				fmt.Fprintln(w, "no validator of this network is running any more")
				return nil, nil
			}
		}
	}
}

// anyRunning reports whether a started validator has a live process,
// launched by this Start or restarted since.
func (n *Network) anyRunning() bool {
	for _, p := range n.procs {
		select {
		case <-p.done:
		default:
			return true
		}
	}
	for _, v := range n.Started {
		if _, ok := runningPID(v); ok {
			return true
		}
	}
	return false
}

func (n *Network) stopAll(w io.Writer) ([]StopResult, error) {
	var names []string
	for _, v := range n.Started {
		names = append(names, v.Name)
	}
	fmt.Fprintf(w, "stopping %s …\n", strings.Join(names, ", "))
	return Stop(context.Background(), n.Manifest, StopOptions{Only: names})
}

// StopOptions are the arguments of Stop.
type StopOptions struct {
	// Only names the validators to stop; empty means all.
	Only []string
	// Timeout is how long a validator gets to exit after SIGTERM before
	// SIGKILL (default DefaultStopTimeout).
	Timeout time.Duration
	// Kill sends SIGKILL at once: a crash, for fault-injection tests.
	Kill bool
}

// StopResult is what Stop did to one validator.
type StopResult struct {
	Name       string `json:"name"`
	PID        int    `json:"pid,omitempty"`
	WasRunning bool   `json:"was_running"`
	// Killed: the process got SIGKILL (asked for, or SIGTERM timed out).
	Killed bool `json:"killed"`
}

// Stop stops the selected validators of a loopback network through their
// pid files: SIGTERM (or SIGKILL with opts.Kill), a wait of up to
// opts.Timeout, then SIGKILL; it returns once the processes are gone and
// their pid files removed. Validators that were not running are reported
// with WasRunning false (and a stale pid file is removed).
func Stop(ctx context.Context, m *Manifest, opts StopOptions) ([]StopResult, error) {
	if err := m.requireLoopback("stop"); err != nil {
		return nil, err
	}
	sel, err := m.Select(opts.Only)
	if err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultStopTimeout
	}
	sig := syscall.SIGTERM
	if opts.Kill {
		sig = syscall.SIGKILL
	}
	res := make([]StopResult, len(sel))
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, v := range sel {
		res[i] = StopResult{Name: v.Name}
		pid, ok := runningPID(v)
		if !ok {
			_ = os.Remove(PIDPath(v))
			continue
		}
		res[i].PID, res[i].WasRunning, res[i].Killed = pid, true, opts.Kill
		if err := signalPID(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s: signal pid %d: %w", v.Name, pid, err))
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			killed, err := awaitExit(ctx, v, pid, opts.Timeout)
			mu.Lock()
			defer mu.Unlock()
			res[i].Killed = res[i].Killed || killed
			if err != nil {
				errs = append(errs, err)
				return
			}
			_ = os.Remove(PIDPath(v))
		}()
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

// Kill sends SIGKILL to the named validators and waits until they are
// gone: a crash, as fault-injection tests need.
func Kill(ctx context.Context, m *Manifest, names ...string) ([]StopResult, error) {
	if len(names) == 0 {
		return nil, errors.New("no validator named; expected one or more names such as val2")
	}
	return Stop(ctx, m, StopOptions{Only: names, Kill: true})
}

// awaitExit waits for pid to vanish, escalating to SIGKILL after timeout.
func awaitExit(ctx context.Context, v Validator, pid int, timeout time.Duration) (killed bool, err error) {
	if waitGone(ctx, pid, v.Home, timeout) {
		return false, nil
	}
	if err := signalPID(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return true, fmt.Errorf("%s: SIGKILL pid %d: %w", v.Name, pid, err)
	}
	if waitGone(context.Background(), pid, v.Home, killWait) {
		return true, nil
	}
	return true, fmt.Errorf("%s: pid %d still alive %s after SIGKILL", v.Name, pid, killWait)
}

// waitGone polls until pid is no longer v's live process, or d passes.
func waitGone(ctx context.Context, pid int, home string, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval / 2)
	defer tick.Stop()
	for processAlive(pid, home) {
		select {
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// runningPID returns the pid in v's pid file if that process is alive.
func runningPID(v Validator) (int, bool) {
	b, err := os.ReadFile(PIDPath(v))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, processAlive(pid, v.Home)
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// logTail returns the last n lines of the file at path.
func logTail(path string, n int) string {
	const maxRead = 64 << 10
	f, err := os.Open(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxRead {
		_, _ = f.Seek(-maxRead, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}
