package networks

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binary is phalanxd built once for the process tests ("" under -short).
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		if testing.Short() {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "phalanx-networks-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "phalanxd")
		build := exec.Command("go", "build", "-o", binary, "./cmd/phalanxd")
		build.Dir = ".." // the module root
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building phalanxd:", err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func needProcesses(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real validator processes: skipped with -short")
	}
}

// phalanxd runs the built binary and returns its combined output.
func phalanxd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	return string(out), err
}

func mustPhalanxd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := phalanxd(t, args...)
	if err != nil {
		t.Fatalf("phalanxd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// initLocal makes a 4-validator, 200ms-block network on free ports and
// makes sure no validator outlives the test.
func initLocal(t *testing.T) *Manifest {
	t.Helper()
	base, err := FindFreeBasePort(4, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := initNet(t, InitOptions{Validators: 4, BasePort: base, BlockTime: 200 * time.Millisecond, ChainID: "px-proc"})
	t.Cleanup(func() {
		res, _ := Stop(context.Background(), m, StopOptions{Kill: true})
		for _, r := range res {
			if r.WasRunning {
				t.Errorf("%s (pid %d) still running at the end of the test", r.Name, r.PID)
			}
		}
		if t.Failed() {
			for _, v := range m.Validators {
				t.Logf("%s log tail:\n%s", v.Name, logTail(LogPath(v), 30))
			}
		}
	})
	return m
}

// statusJSON runs `testnet status DIR --output json`.
func statusJSON(t *testing.T, dir string) *NetworkStatus {
	t.Helper()
	out := mustPhalanxd(t, "testnet", "status", dir, "--output", "json")
	var ns NetworkStatus
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		t.Fatalf("status --output json: %v\n%s", err, out)
	}
	return &ns
}

// waitFor polls cond every 100ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, d, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func heightsAtLeast(t *testing.T, m *Manifest, h int64, names ...string) func() (bool, string) {
	return func() (bool, string) {
		ns, err := Status(context.Background(), m, StatusOptions{Only: names, Timeout: time.Second})
		if err != nil {
			return false, err.Error()
		}
		var b strings.Builder
		ok := true
		for _, v := range ns.Validators {
			fmt.Fprintf(&b, "%s up=%v h=%d; ", v.Name, v.Up, v.Height)
			ok = ok && v.Up && v.Height >= h
		}
		return ok, b.String()
	}
}

// TestCLIStartStatusKillRestartStop drives a 4-validator network through
// the CLI as a user or an end-to-end test would.
func TestCLIStartStatusKillRestartStop(t *testing.T) {
	needProcesses(t)
	m := initLocal(t)
	dir := m.Dir

	began := time.Now()
	out := mustPhalanxd(t, "testnet", "start", dir, "--detach")
	t.Logf("testnet start --detach: %s", time.Since(began).Round(time.Millisecond))
	for _, want := range []string{"ready after", "query summary --node " + m.Validators[0].RPC, "testnet stop " + dir} {
		if !strings.Contains(out, want) {
			t.Errorf("start output lacks %q:\n%s", want, out)
		}
	}
	pids := map[string]int{}
	for _, v := range m.Validators {
		pid, ok := runningPID(ValidatorProcess(v))
		if !ok {
			t.Fatalf("%s: no live process in %s after start", v.Name, PIDPath(v))
		}
		pids[v.Name] = pid
	}

	// A second start refuses, naming the running validators.
	if out, err := phalanxd(t, "testnet", "start", dir, "--detach"); err == nil || !strings.Contains(out, "already running") {
		t.Errorf("second start: err %v, output:\n%s", err, out)
	}

	waitFor(t, 20*time.Second, "height 3 on all four", heightsAtLeast(t, m, 3))
	waitFor(t, 10*time.Second, "every validator peered with the three others", func() (bool, string) {
		ns, err := Status(context.Background(), m, StatusOptions{})
		if err != nil {
			return false, err.Error()
		}
		var peers []int
		for _, v := range ns.Validators {
			peers = append(peers, v.Peers)
		}
		return fmt.Sprint(peers) == "[3 3 3 3]", fmt.Sprint("peers ", peers)
	})
	ns := statusJSON(t, dir)
	if ns.Up != 4 || !ns.Agree || ns.CommonHeight < 3 {
		t.Fatalf("status: %d up, agree %v at common height %d; want 4 up agreeing at ≥ 3: %+v", ns.Up, ns.Agree, ns.CommonHeight, ns)
	}
	for _, v := range ns.Validators {
		if v.Peers != 3 || v.PID != pids[v.Name] || v.HeaderAppHash != ns.Validators[0].HeaderAppHash {
			t.Errorf("%s: peers %d pid %d header app hash %s", v.Name, v.Peers, v.PID, v.HeaderAppHash)
		}
	}
	text := mustPhalanxd(t, "testnet", "status", dir)
	if !strings.Contains(text, "4 of 4 up") || !strings.Contains(text, "on every up validator") {
		t.Errorf("status text:\n%s", text)
	}

	// Crash one validator; the other three keep committing (3 of 4 > 2/3).
	out = mustPhalanxd(t, "testnet", "kill", dir, "val2")
	if !strings.Contains(out, fmt.Sprintf("killed val2 (pid %d)", pids["val2"])) {
		t.Errorf("kill output: %s", out)
	}
	if processAlive(pids["val2"], ValidatorProcess(m.Validators[2])) {
		t.Fatalf("val2 still alive after kill")
	}
	ns = statusJSON(t, dir)
	if ns.Up != 3 || ns.Validators[2].Up {
		t.Fatalf("after kill: %d up, val2 up %v", ns.Up, ns.Validators[2].Up)
	}
	h := ns.CommonHeight
	waitFor(t, 15*time.Second, "three validators commit without val2", heightsAtLeast(t, m, h+3, "val0", "val1", "val3"))

	// Restart it: it catches up with the others.
	out = mustPhalanxd(t, "testnet", "start", dir, "--only", "val2", "--detach")
	if !strings.Contains(out, "val2 at height") {
		t.Errorf("restart output:\n%s", out)
	}
	ns = statusJSON(t, dir)
	if ns.Up != 4 || !ns.Agree {
		t.Fatalf("after restart: %d up, agree %v: %+v", ns.Up, ns.Agree, ns)
	}
	if ns.Validators[2].Height < h+3 {
		t.Errorf("restarted val2 at height %d; the others were at ≥ %d when it started", ns.Validators[2].Height, h+3)
	}
	pid2, _ := runningPID(ValidatorProcess(m.Validators[2]))
	pids["val2"] = pid2

	// Stop: every process gone, pid files removed.
	out = mustPhalanxd(t, "testnet", "stop", dir)
	for _, v := range m.Validators {
		if !strings.Contains(out, fmt.Sprintf("stopped %s (pid %d)", v.Name, pids[v.Name])) {
			t.Errorf("stop output lacks %s:\n%s", v.Name, out)
		}
		if processAlive(pids[v.Name], ValidatorProcess(v)) {
			t.Errorf("%s (pid %d) alive after stop", v.Name, pids[v.Name])
		}
		if _, err := os.Stat(PIDPath(v)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: pid file left after stop (%v)", v.Name, err)
		}
		log, _ := os.ReadFile(LogPath(v))
		lastRun := log[strings.LastIndex(string(log), "=== "):]
		if !strings.Contains(string(lastRun), "stopping phalanx validator") {
			t.Errorf("%s: log of its last run does not show a clean stop:\n%s", v.Name, logTail(LogPath(v), 10))
		}
	}
	out = mustPhalanxd(t, "testnet", "stop", dir)
	if strings.Count(out, "was not running") != 4 {
		t.Errorf("second stop:\n%s", out)
	}
	if _, err := phalanxd(t, "testnet", "kill", dir, "val1"); err == nil {
		t.Errorf("kill of a stopped validator succeeded")
	}
}

// TestLibraryStartSupervise runs the foreground mode in-process: Start,
// then Supervise until its context ends, which stops every validator.
func TestLibraryStartSupervise(t *testing.T) {
	needProcesses(t)
	m := initLocal(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := Start(ctx, m, StartOptions{Binary: binary, WaitHeight: 2, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("4 validators at height 2 after %s", n.Elapsed.Round(time.Millisecond))

	// Taken ports are refused before anything is launched.
	other := *m
	other.Dir = t.TempDir()
	other.Validators = []Validator{m.Validators[0]}
	other.Validators[0].Home = t.TempDir()
	os.MkdirAll(filepath.Join(other.Validators[0].Home, "config"), 0o700)
	os.WriteFile(filepath.Join(other.Validators[0].Home, "config", "config.toml"), nil, 0o600)
	if _, err := Start(ctx, &other, StartOptions{Binary: binary}); err == nil || !strings.Contains(err.Error(), "is taken") {
		t.Errorf("start on taken ports: %v", err)
	}

	// A crash is reported and the rest keeps running.
	if _, err := Kill(ctx, m, "val1"); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-n.Exits():
		if e.Name != "val1" || e.Err == nil {
			t.Errorf("exit %+v; want val1 with a signal", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit reported for the killed val1")
	}

	done := make(chan struct{})
	var res []StopResult
	var serr error
	go func() {
		res, serr = n.Supervise(ctx, nil)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		t.Fatal("Supervise did not return after its context ended")
	}
	if serr != nil {
		t.Fatal(serr)
	}
	for _, r := range res {
		if r.WasRunning == (r.Name == "val1") || r.Killed {
			t.Errorf("stop result %+v", r)
		}
	}
	for _, v := range m.Validators {
		if pid, ok := runningPID(ValidatorProcess(v)); ok {
			t.Errorf("%s (pid %d) alive after Supervise", v.Name, pid)
		}
	}
}

// TestStartFailureQuotesLog: a validator that cannot start makes Start
// fail fast with its log, and stops the others.
func TestStartFailureQuotesLog(t *testing.T) {
	needProcesses(t)
	m := initLocal(t)
	os.WriteFile(filepath.Join(m.Validators[3].Home, "config", "genesis.json"), []byte("{not json"), 0o600)
	began := time.Now()
	_, err := Start(context.Background(), m, StartOptions{Binary: binary, Timeout: 30 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "val3 exited while starting") || !strings.Contains(err.Error(), "genesis") {
		t.Fatalf("Start with a broken genesis: %v", err)
	}
	if d := time.Since(began); d > 15*time.Second {
		t.Errorf("failure took %s; want it reported as soon as val3 exits", d)
	}
	for _, v := range m.Validators {
		if pid, ok := runningPID(ValidatorProcess(v)); ok {
			t.Errorf("%s (pid %d) left running after a failed start", v.Name, pid)
		}
	}
}

// TestStartStopAgents runs a one-validator network with an agent: Start
// brings up the validator, then its observer and the agent (registered
// and heartbeating); Status shows them; Kill crashes the agent and the
// supervisor hears of it; Start --only restarts it; Stop goes agents,
// observers, validators.
func TestStartStopAgents(t *testing.T) {
	needProcesses(t)
	base, err := FindFreeBasePort(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := initNet(t, InitOptions{Validators: 1, Agents: 1, BasePort: base, BlockTime: 200 * time.Millisecond, ChainID: "px-agents", NoMetrics: true})
	t.Cleanup(func() {
		_, _ = Stop(context.Background(), m, StopOptions{Kill: true})
		if t.Failed() {
			for _, p := range m.Processes() {
				t.Logf("%s log tail:\n%s", p.Name, logTail(p.LogFile, 20))
			}
		}
	})
	ctx := context.Background()
	var progress strings.Builder
	n, err := Start(ctx, m, StartOptions{Binary: binary, Timeout: 30 * time.Second, Progress: &progress})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if got := strings.Join(processNames(n.Started), ","); got != "val0,observer0,agent0" {
		t.Errorf("started %s", got)
	}
	for _, want := range []string{"val0 at height", "observer0 reporting through", "agent0 heartbeating through"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
	waitFor(t, 20*time.Second, "status: observer up, agent up with its node Ready", func() (bool, string) {
		ns, err := Status(ctx, m, StatusOptions{})
		if err != nil {
			return false, err.Error()
		}
		if len(ns.Observers) != 1 || len(ns.Agents) != 1 {
			return false, fmt.Sprintf("%+v", ns)
		}
		o, a := ns.Observers[0], ns.Agents[0]
		return o.PID > 0 && a.PID > 0 && a.Up && a.Connected && a.NodeID == "agent0" && a.NodeState == "Ready",
			fmt.Sprintf("observer %+v agent %+v", o, a)
	})

	agentPID, ok := runningPID(AgentProcess(m.Agents[0]))
	if !ok {
		t.Fatal("agent0 not running after Start")
	}
	if _, err := Kill(ctx, m, "agent0"); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-n.Exits():
		if e.Name != "agent0" || e.Kind != KindAgent || e.PID != agentPID || e.Err == nil {
			t.Errorf("exit %+v; want agent0 (pid %d) killed", e, agentPID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit reported for the killed agent0")
	}
	if _, err := Start(ctx, m, StartOptions{Binary: binary, Only: []string{"agent0"}, Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(ctx, m, StartOptions{Binary: binary, Only: []string{"observer0"}}); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second start of observer0: %v; want ErrAlreadyRunning", err)
	}

	res, err := Stop(ctx, m, StopOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range res {
		order = append(order, r.Name)
		if !r.WasRunning || r.Killed {
			t.Errorf("stop result %+v; want stopped by SIGTERM", r)
		}
	}
	if got := strings.Join(order, ","); got != "agent0,observer0,val0" {
		t.Errorf("stop order %s; want agent0,observer0,val0", got)
	}
	for _, p := range m.Processes() {
		if pid, ok := runningPID(p); ok {
			t.Errorf("%s (pid %d) alive after Stop", p.Name, pid)
		}
	}
	if log := logTail(AgentProcess(m.Agents[0]).LogFile, 5); !strings.Contains(log, "agent stopping") {
		t.Errorf("agent0's log does not show a clean stop:\n%s", log)
	}
}
