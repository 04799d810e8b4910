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
	// pollInterval is how often Start and Stop look at the processes.
	pollInterval = 100 * time.Millisecond
	// killWait bounds the wait for a process to vanish after SIGKILL.
	killWait = 10 * time.Second
	// logTailLines is how much of a log an error quotes.
	logTailLines = 15
	// observerSettle: an observer still running this long after its
	// launch has passed its start-up checks (key, observer role).
	observerSettle = time.Second
	// agentProbeTimeout bounds one GET /healthz of an agent.
	agentProbeTimeout = time.Second
)

// PIDPath is the pid file of validator v.
func PIDPath(v Validator) string { return ValidatorProcess(v).PIDFile }

// LogPath is the log file of validator v.
func LogPath(v Validator) string { return ValidatorProcess(v).LogFile }

// StartOptions are the arguments of Start.
type StartOptions struct {
	// Only names the processes to start ("val2", "observer2", "agent1");
	// empty means all of them (Manifest.Processes).
	Only []string
	// Binary is the phalanxd to run (default: this executable).
	Binary string
	// WaitHeight is the height every started validator must have
	// committed, and not be catching up, before Start goes on (default
	// DefaultWaitHeight). When validators outside Only are up, Start
	// also waits for the highest height they had at launch.
	WaitHeight int64
	// Timeout bounds each of Start's two waits: for the validators, then
	// for the observers and agents (default DefaultStartTimeout).
	Timeout time.Duration
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

// Exit reports a supervised process that ended.
type Exit struct {
	Name string
	Kind string
	PID  int
	Log  string // its log file
	Err  error  // nil: exit status 0
}

// Network is a set of processes started by Start. They run in their own
// sessions and outlive the caller unless it stops them (Supervise, Stop).
type Network struct {
	Manifest *Manifest
	// Started are the processes this Start launched, in start order.
	Started []Process
	// Elapsed is the time from the first launch until every started
	// process was ready.
	Elapsed time.Duration

	procs []*proc
	exits chan Exit
}

// Validators returns the validators this Start launched.
func (n *Network) Validators() []Validator {
	var out []Validator
	for _, p := range n.Started {
		if p.Kind == KindValidator {
			out = append(out, p.Validator)
		}
	}
	return out
}

type proc struct {
	p     Process
	cmd   *exec.Cmd
	began time.Time
	done  chan struct{}
	err   error // set before done is closed
}

// Start launches the selected processes of a loopback network, each as
// `BINARY ARGS…` (Process.Args) in its own session with output appended
// to its log file and its pid in its pid file. The validators go first:
// Start waits until each has committed opts.WaitHeight (or the height the
// validators already running had at launch, if higher) and is not
// catching up. Then it launches the observers and agents and waits until
// each agent answers /healthz connected to a validator with a heartbeat
// committed, and each observer has been running for a second. It refuses
// processes that already run and ports that are taken. When a wait fails
// it stops what it launched and returns an error quoting their logs.
func Start(ctx context.Context, m *Manifest, opts StartOptions) (*Network, error) {
	if err := m.requireLoopback("start"); err != nil {
		return nil, err
	}
	sel, err := m.SelectProcesses(opts.Only)
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

	vals, others := byKind(sel)
	n := &Network{Manifest: m, Started: sel, exits: make(chan Exit, len(sel))}
	began := time.Now()
	if len(vals) > 0 {
		fmt.Fprintf(opts.Progress, "starting %d validator(s) of %s, chain %s\n", len(vals), m.Dir, m.ChainID)
		// A validator restarted into a running network must also catch
		// up with the others: wait for the height they have now.
		if h := othersHeight(ctx, m, vals); h > opts.WaitHeight {
			fmt.Fprintf(opts.Progress, "the other validators are at height %d; waiting for the started ones to reach it\n", h)
			opts.WaitHeight = h
		}
		if err := n.launchAndWait(ctx, opts, vals); err != nil {
			return nil, err
		}
	}
	if len(others) > 0 {
		fmt.Fprintf(opts.Progress, "starting %s\n", strings.Join(processNames(others), ", "))
		if err := n.launchAndWait(ctx, opts, others); err != nil {
			return nil, err
		}
	}
	n.Elapsed = time.Since(began)
	return n, nil
}

// launchAndWait launches ps and waits until they are ready; on failure it
// stops everything this Start launched.
func (n *Network) launchAndWait(ctx context.Context, opts StartOptions, ps []Process) error {
	first := len(n.procs)
	for _, p := range ps {
		pr, err := launch(opts.Binary, p, n.exits)
		if err != nil {
			n.stopLaunched()
			return err
		}
		n.procs = append(n.procs, pr)
		fmt.Fprintf(opts.Progress, "started %s (pid %d), log %s\n", p.Name, pr.cmd.Process.Pid, p.LogFile)
	}
	if err := n.waitReady(ctx, opts, n.procs[first:]); err != nil {
		n.stopLaunched()
		return err
	}
	return nil
}

// othersHeight is the highest height among the up validators not in sel.
func othersHeight(ctx context.Context, m *Manifest, sel []Process) int64 {
	chosen := make(map[string]bool, len(sel))
	for _, p := range sel {
		chosen[p.Name] = true
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

// checkStartable refuses running processes, missing homes and taken ports.
func checkStartable(m *Manifest, sel []Process) error {
	var running, problems []string
	for _, p := range sel {
		if pid, ok := runningPID(p); ok {
			running = append(running, fmt.Sprintf("%s (pid %d)", p.Name, pid))
			continue
		}
		switch p.Kind {
		case KindValidator:
			if _, err := os.Stat(config.CometFile(p.Validator.Home)); err != nil {
				problems = append(problems, fmt.Sprintf("%s: no config at %s (was the network initialised there?)", p.Name, config.CometFile(p.Validator.Home)))
				continue
			}
		case KindAgent:
			if _, err := os.Stat(p.Agent.Home); err != nil {
				problems = append(problems, fmt.Sprintf("%s: no home at %s (was the network initialised there?)", p.Name, p.Agent.Home))
				continue
			}
		}
		for _, a := range listenAddrs(p) {
			l, err := net.Listen("tcp", a.addr)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s port %s is taken by another process (another network? re-init with another --base-port)", p.Name, a.what, a.addr))
				continue
			}
			_ = l.Close()
		}
	}
	if len(running) > 0 {
		return fmt.Errorf("%w: %s; stop them with `phalanxd testnet stop %s` (--only NAME for one)",
			ErrAlreadyRunning, strings.Join(running, ", "), m.Dir)
	}
	if len(problems) > 0 {
		return fmt.Errorf("cannot start: %s", strings.Join(problems, "; "))
	}
	return nil
}

type listenAddr struct{ what, addr string }

// listenAddrs are the loopback addresses process p will bind.
func listenAddrs(p Process) []listenAddr {
	var out []listenAddr
	switch p.Kind {
	case KindValidator:
		v := p.Validator
		if _, hp, ok := strings.Cut(v.P2P, "@"); ok {
			out = append(out, listenAddr{"p2p", hp})
		}
		if hp, ok := strings.CutPrefix(v.RPC, "tcp://"); ok {
			out = append(out, listenAddr{"rpc", hp})
		}
		if v.Prometheus != "" {
			out = append(out, listenAddr{"prometheus", v.Prometheus})
		}
	case KindAgent:
		out = append(out, listenAddr{"agent endpoint", p.Agent.Listen})
	}
	return out
}

// launch starts one process and reaps it in the background.
func launch(binary string, p Process, exits chan<- Exit) (*proc, error) {
	logf, err := os.OpenFile(p.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", p.Name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n=== %s: %s %s (phalanxd testnet start) ===\n", time.Now().Format(time.RFC3339), binary, strings.Join(p.Args, " "))
	cmd := exec.Command(binary, p.Args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if p.Kind == KindAgent {
		// The agent's tasks find phalanxd on their PATH (the examples'
		// demo service runs `phalanxd demo http`).
		cmd.Env = withPathFirst(os.Environ(), filepath.Dir(binary))
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: run %s: %w", p.Name, binary, err)
	}
	pid := cmd.Process.Pid
	pr := &proc{p: p, cmd: cmd, began: time.Now(), done: make(chan struct{})}
	if err := os.WriteFile(p.PIDFile, []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s: write pid file: %w", p.Name, err)
	}
	go func() {
		pr.err = cmd.Wait()
		// The pid file is ours only while it still names this process.
		if b, err := os.ReadFile(p.PIDFile); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(pid) {
			_ = os.Remove(p.PIDFile)
		}
		close(pr.done)
		exits <- Exit{Name: p.Name, Kind: p.Kind, PID: pid, Log: p.LogFile, Err: pr.err}
	}()
	return pr, nil
}

// waitReady polls procs until all are ready (see Start), one has exited,
// or the deadline passes.
func (n *Network) waitReady(ctx context.Context, opts StartOptions, procs []*proc) error {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	ready := make(map[string]bool, len(procs))
	last := make(map[string]string, len(procs))
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		for _, pr := range procs {
			select {
			case <-pr.done:
				return fmt.Errorf("%s exited while starting (%v); last lines of %s:\n%s", pr.p.Name, exitText(pr.err), pr.p.LogFile, logTail(pr.p.LogFile, logTailLines))
			default:
			}
			if ready[pr.p.Name] {
				continue
			}
			ok, state := pr.ready(ctx, opts.WaitHeight)
			last[pr.p.Name] = state
			if ok {
				ready[pr.p.Name] = true
				fmt.Fprintf(opts.Progress, "%s %s\n", pr.p.Name, state)
			}
		}
		if len(ready) == len(procs) {
			return nil
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.Canceled {
				return fmt.Errorf("start interrupted: %w", ctx.Err())
			}
			var b strings.Builder
			fmt.Fprintf(&b, "not ready within %s:", opts.Timeout)
			for _, pr := range procs {
				if !ready[pr.p.Name] {
					fmt.Fprintf(&b, "\n%s: %s; last lines of %s:\n%s", pr.p.Name, last[pr.p.Name], pr.p.LogFile, logTail(pr.p.LogFile, logTailLines))
				}
			}
			return errors.New(b.String())
		case <-tick.C:
		}
	}
}

// ready reports whether the process is ready, and its state in words.
func (pr *proc) ready(ctx context.Context, waitHeight int64) (bool, string) {
	switch pr.p.Kind {
	case KindValidator:
		st := queryStatus(ctx, pr.p.Validator, time.Second)
		switch {
		case !st.Up:
			return false, "RPC not answering: " + st.Error
		case st.CatchingUp:
			return false, fmt.Sprintf("catching up at height %d", st.Height)
		case st.Height < waitHeight:
			return false, fmt.Sprintf("at height %d", st.Height)
		}
		return true, fmt.Sprintf("at height %d", st.Height)
	case KindAgent:
		h, err := agentHealth(ctx, pr.p.Agent, agentProbeTimeout)
		switch {
		case err != nil:
			return false, "endpoint not answering: " + err.Error()
		case !h.ControlPlane.Connected:
			return false, "not connected to a validator: " + h.ControlPlane.LastError
		case h.ControlPlane.LastHeartbeat.IsZero():
			return false, "no heartbeat committed yet"
		}
		return true, fmt.Sprintf("heartbeating through %s (node %s, %s)", h.ControlPlane.Node, h.NodeID, pr.p.Agent.Zone)
	default:
		if d := time.Since(pr.began); d < observerSettle {
			return false, "starting"
		}
		return true, "reporting through " + pr.p.Validator.RPC
	}
}

// stopLaunched stops this Start's processes (after a failed start).
func (n *Network) stopLaunched() {
	var names []string
	for _, pr := range n.procs {
		names = append(names, pr.p.Name)
	}
	if len(names) > 0 {
		_, _ = Stop(context.Background(), n.Manifest, StopOptions{Only: names, Timeout: 10 * time.Second})
	}
}

// Exits delivers one Exit per launched process that ends, whatever the
// cause (a crash, `testnet kill`, Stop).
func (n *Network) Exits() <-chan Exit { return n.exits }

// Supervise blocks until ctx is done, reporting to w each process that
// exits meanwhile (the others keep running: the network tolerates f
// validator failures, and a dead agent is what the cluster heals), then
// stops the processes this Start launched, by their pid files, so one
// restarted meanwhile with `testnet start --only` is stopped too. It also
// returns, with nothing to stop, once none of those processes runs any
// more (all stopped from elsewhere, e.g. by `testnet stop`).
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
				fmt.Fprintf(w, "%s (pid %d) exited: %v; see %s\n", e.Name, e.PID, e.Err, e.Log)
			}
		case <-tick.C:
			if !n.anyRunning() {
				fmt.Fprintln(w, "no process of this network is running any more")
				return nil, nil
			}
		}
	}
}

// anyRunning reports whether a started process is alive, launched by this
// Start or restarted since.
func (n *Network) anyRunning() bool {
	for _, pr := range n.procs {
		select {
		case <-pr.done:
		default:
			return true
		}
	}
	for _, p := range n.Started {
		if _, ok := runningPID(p); ok {
			return true
		}
	}
	return false
}

func (n *Network) stopAll(w io.Writer) ([]StopResult, error) {
	names := processNames(n.Started)
	fmt.Fprintf(w, "stopping %s …\n", strings.Join(names, ", "))
	return Stop(context.Background(), n.Manifest, StopOptions{Only: names})
}

// StopOptions are the arguments of Stop.
type StopOptions struct {
	// Only names the processes to stop; empty means all.
	Only []string
	// Timeout is how long a process gets to exit after SIGTERM before
	// SIGKILL (default DefaultStopTimeout).
	Timeout time.Duration
	// Kill sends SIGKILL at once: a crash, for fault-injection tests.
	Kill bool
}

// StopResult is what Stop did to one process.
type StopResult struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	PID        int    `json:"pid,omitempty"`
	WasRunning bool   `json:"was_running"`
	// Killed: the process got SIGKILL (asked for, or SIGTERM timed out).
	Killed bool `json:"killed"`
}

// Stop stops the selected processes of a loopback network through their
// pid files: SIGTERM (or SIGKILL with opts.Kill), a wait of up to
// opts.Timeout, then SIGKILL; it returns once the processes are gone and
// their pid files removed. It stops the agents first (each stops its
// tasks), then the observers, then the validators, each group once the
// previous one is gone, so that nothing reports into a chain that is
// going away; with opts.Kill all at once. Processes that were not running
// are reported with WasRunning false (and a stale pid file is removed).
// The results are in stopping order.
func Stop(ctx context.Context, m *Manifest, opts StopOptions) ([]StopResult, error) {
	if err := m.requireLoopback("stop"); err != nil {
		return nil, err
	}
	sel, err := m.SelectProcesses(opts.Only)
	if err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultStopTimeout
	}
	sig := syscall.SIGTERM
	waves := [][]Process{sel}
	if opts.Kill {
		sig = syscall.SIGKILL
	} else {
		waves = nil
		for _, kind := range []string{KindAgent, KindObserver, KindValidator} {
			var wave []Process
			for _, p := range sel {
				if p.Kind == kind {
					wave = append(wave, p)
				}
			}
			if len(wave) > 0 {
				waves = append(waves, wave)
			}
		}
	}
	var res []StopResult
	var errs []error
	for _, wave := range waves {
		r, err := stopWave(ctx, wave, sig, opts.Timeout)
		res = append(res, r...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// stopWave signals every process of ps and waits until all are gone.
func stopWave(ctx context.Context, ps []Process, sig syscall.Signal, timeout time.Duration) ([]StopResult, error) {
	res := make([]StopResult, len(ps))
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, p := range ps {
		res[i] = StopResult{Name: p.Name, Kind: p.Kind}
		pid, ok := runningPID(p)
		if !ok {
			_ = os.Remove(p.PIDFile)
			continue
		}
		res[i].PID, res[i].WasRunning, res[i].Killed = pid, true, sig == syscall.SIGKILL
		if err := signalPID(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s: signal pid %d: %w", p.Name, pid, err))
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			killed, err := awaitExit(ctx, p, pid, timeout)
			mu.Lock()
			defer mu.Unlock()
			res[i].Killed = res[i].Killed || killed
			if err != nil {
				errs = append(errs, err)
				return
			}
			_ = os.Remove(p.PIDFile)
		})
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

// Kill sends SIGKILL to the named processes and waits until they are
// gone: a crash, as fault-injection tests need. A killed agent's tasks
// die with it (the agent arranges that: docs/agent.md).
func Kill(ctx context.Context, m *Manifest, names ...string) ([]StopResult, error) {
	if len(names) == 0 {
		return nil, errors.New("nothing named; expected one or more names such as val2 or agent1")
	}
	return Stop(ctx, m, StopOptions{Only: names, Kill: true})
}

// awaitExit waits for pid to vanish, escalating to SIGKILL after timeout.
func awaitExit(ctx context.Context, p Process, pid int, timeout time.Duration) (killed bool, err error) {
	if waitGone(ctx, pid, p, timeout) {
		return false, nil
	}
	if err := signalPID(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return true, fmt.Errorf("%s: SIGKILL pid %d: %w", p.Name, pid, err)
	}
	if waitGone(context.Background(), pid, p, killWait) {
		return true, nil
	}
	return true, fmt.Errorf("%s: pid %d still alive %s after SIGKILL", p.Name, pid, killWait)
}

// waitGone polls until pid is no longer p's live process, or d passes.
func waitGone(ctx context.Context, pid int, p Process, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval / 2)
	defer tick.Stop()
	for processAlive(pid, p) {
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

// runningPID returns the pid in p's pid file if that process is alive.
func runningPID(p Process) (int, bool) {
	b, err := os.ReadFile(p.PIDFile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, processAlive(pid, p)
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

// withPathFirst returns env with dir at the front of PATH.
func withPathFirst(env []string, dir string) []string {
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			kv = "PATH=" + dir + string(os.PathListSeparator) + v
			found = true
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, "PATH="+dir)
	}
	return out
}
