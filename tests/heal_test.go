package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/agent"
	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/networks"
)

// sampleWorkload is the workload `make localnet` creates: 3 replicas of a
// shell loop that counts and checkpoints every second (a task's process
// group is sh and its sleep), spread over the zones with max_skew 1. There
// is no max_per_domain: with 3 agents in 3 zones, the task of a dead
// zone's only agent can then move to another zone (max_per_domain 1 would
// keep it Pending until the agent returns).
const sampleWorkload = "../examples/localnet.json"

// sampleWorkloadName is the name in sampleWorkload.
const sampleWorkloadName = "counter"

// needProc skips where there is no Linux /proc to find tasks' processes in.
func needProc(tb testing.TB) {
	tb.Helper()
	if runtime.GOOS != "linux" {
		tb.Skip("reads the tasks' processes from Linux's /proc")
	}
}

// healNet is a loopback network with observers and agents.
type healNet struct {
	tb  testing.TB
	m   *networks.Manifest
	c   *client.Client // val0's RPC
	run *testnet       // CLI helpers (nil in benchmarks)
}

// tasks is the chain's view of the sample workload's tasks, by id.
func (h *healNet) tasks(ctx context.Context) (map[string]api.TaskView, error) {
	return h.tasksOf(ctx, sampleWorkloadName)
}

// tasksOf is tasks for the named workload.
func (h *healNet) tasksOf(ctx context.Context, workload string) (map[string]api.TaskView, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ans, err := h.c.Tasks(ctx, url.Values{"workload": {workload}})
	if err != nil {
		return nil, err
	}
	out := make(map[string]api.TaskView, len(ans.Tasks))
	for _, t := range ans.Tasks {
		out[t.ID] = t
	}
	return out, nil
}

// nodeStates is each registered node's state on the chain.
func (h *healNet) nodeStates(ctx context.Context) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var ans api.NodesAnswer
	if _, err := h.c.Query(ctx, "/nodes", &ans); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ans.Nodes))
	for _, n := range ans.Nodes {
		out[n.ID] = n.State
	}
	return out, nil
}

// waitSteady waits until every agent's node is Ready and every task of the
// sample workload Running, and returns the tasks.
func (h *healNet) waitSteady(within time.Duration) map[string]api.TaskView {
	h.tb.Helper()
	var tasks map[string]api.TaskView
	waitUntil(h.tb, within, "every agent's node Ready and 3 tasks Running", func() (bool, string) {
		states, err := h.nodeStates(context.Background())
		if err != nil {
			return false, err.Error()
		}
		for _, a := range h.m.Agents {
			if states[a.Name] != "Ready" {
				return false, fmt.Sprintf("nodes %v", states)
			}
		}
		tasks, err = h.tasks(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return len(tasks) == 3 && countState(tasks, "Running") == 3, tasksText(tasks)
	})
	return tasks
}

// agentTasks asks agent a's endpoint for its tasks.
func agentTasks(a networks.Agent) (map[string]api.AgentTaskView, error) {
	hc := http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get("http://" + a.Listen + "/tasks")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var v api.AgentTasksView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, err
	}
	out := map[string]api.AgentTaskView{}
	for _, t := range v.Tasks {
		out[t.TaskID] = t
	}
	return out, nil
}

func countState(tasks map[string]api.TaskView, state string) int {
	n := 0
	for _, t := range tasks {
		if t.State == state {
			n++
		}
	}
	return n
}

func tasksText(tasks map[string]api.TaskView) string {
	var ids []string
	for id := range tasks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	for _, id := range ids {
		t := tasks[id]
		fmt.Fprintf(&b, "%s@%s g%d %s; ", id, t.Node, t.Generation, t.State)
	}
	return b.String()
}

// ---- the processes of tasks, from /proc ----

// taskProc is a live process of a task: the PHALANX_ variables the agent
// gave it (inherited by its children) and its process group.
type taskProc struct {
	PID, PGID  int
	Task, Node string
	Generation uint64
}

// scanTaskProcs lists the live processes whose PHALANX_CHECKPOINT_FILE
// lies under dir (the tasks of this test's agents).
func scanTaskProcs(dir string) []taskProc {
	entries, _ := os.ReadDir("/proc")
	var out []taskProc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, []byte("PHALANX_TASK_ID=")) {
			continue
		}
		tp := taskProc{PID: pid}
		under := false
		for _, kv := range bytes.Split(env, []byte{0}) {
			k, v, _ := strings.Cut(string(kv), "=")
			switch k {
			case agent.EnvTaskID:
				tp.Task = v
			case agent.EnvNodeID:
				tp.Node = v
			case agent.EnvTaskGeneration:
				tp.Generation, _ = strconv.ParseUint(v, 10, 64)
			case agent.EnvCheckpointFile:
				under = strings.HasPrefix(v, dir+string(filepath.Separator))
			}
		}
		if !under {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) S ppid pgrp …"; comm may hold spaces.
		i := bytes.LastIndexByte(stat, ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		tp.PGID, _ = strconv.Atoi(f[2])
		out = append(out, tp)
	}
	return out
}

// procSampler checks, every 50ms, that no task runs at one generation in
// two process groups (two live instances of one placement), and counts
// the samples in which one task id runs at two generations (allowed:
// fencing is by generation; with SIGKILLed agents it should not happen
// either).
type procSampler struct {
	dir  string
	stop chan struct{}
	done chan struct{}

	mu         sync.Mutex
	samples    int
	violations []string
	idOverlaps []string
	spans      map[string]*overlapSpan // "task at generations [a b]" -> when
	seen       map[string]*overlapSpan // "task@gN" -> first and last sample it ran in
	longest    time.Duration           // slowest scan
}

func startSampler(dir string) *procSampler {
	s := &procSampler{dir: dir, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			s.sample()
		}
	}()
	return s
}

func (s *procSampler) sample() {
	began := time.Now()
	procs := scanTaskProcs(s.dir)
	groups := map[string]map[int]string{} // task@gen → pgid → node
	gens := map[string]map[uint64]bool{}
	for _, p := range procs {
		key := fmt.Sprintf("%s@g%d", p.Task, p.Generation)
		if groups[key] == nil {
			groups[key] = map[int]string{}
		}
		groups[key][p.PGID] = p.Node
		if gens[p.Task] == nil {
			gens[p.Task] = map[uint64]bool{}
		}
		gens[p.Task][p.Generation] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples++
	s.longest = max(s.longest, time.Since(began))
	if s.seen == nil {
		s.seen = map[string]*overlapSpan{}
	}
	for key := range groups {
		if sp := s.seen[key]; sp != nil {
			sp.last = began
		} else {
			s.seen[key] = &overlapSpan{first: began, last: began}
		}
	}
	for key, pgs := range groups {
		if len(pgs) > 1 {
			s.violations = append(s.violations, fmt.Sprintf("%s %s in process groups %v", began.Format("15:04:05.000"), key, pgs))
		}
	}
	for task, g := range gens {
		if len(g) > 1 {
			s.idOverlaps = append(s.idOverlaps, fmt.Sprintf("%s %s at generations %v", began.Format("15:04:05.000"), task, g))
			key := fmt.Sprintf("%s at generations %v", task, slices.Sorted(maps.Keys(g)))
			if s.spans == nil {
				s.spans = map[string]*overlapSpan{}
			}
			if sp := s.spans[key]; sp != nil {
				sp.last = began
			} else {
				s.spans[key] = &overlapSpan{first: began, last: began}
			}
		}
	}
}

// overlapSpan is when the sampler first and last saw one task at two
// generations at once.
type overlapSpan struct{ first, last time.Time }

// seenRunning returns the first and last sample in which task id ran at
// generation gen.
func (s *procSampler) seenRunning(id string, gen uint64) (first, last time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.seen[fmt.Sprintf("%s@g%d", id, gen)]
	if sp == nil {
		return time.Time{}, time.Time{}, false
	}
	return sp.first, sp.last, true
}

// generationOverlaps lists each task seen at two generations at once, with
// how long (first to last sample; one sample: under the 50 ms period).
func (s *procSampler) generationOverlaps() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, key := range slices.Sorted(maps.Keys(s.spans)) {
		sp := s.spans[key]
		out = append(out, fmt.Sprintf("%s from %s for %s", key, sp.first.Format("15:04:05.000"), sp.last.Sub(sp.first).Round(time.Millisecond)))
	}
	return out
}

// finish stops the sampler and fails tb if two live processes ever ran
// one task at one generation.
func (s *procSampler) finish(tb testing.TB) {
	tb.Helper()
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	tb.Logf("process sampler: %d samples of /proc every 50ms (slowest scan %s); one task at two generations at once in %d samples",
		s.samples, s.longest.Round(time.Millisecond), len(s.idOverlaps))
	for i, o := range s.idOverlaps {
		if i == 5 {
			break
		}
		tb.Logf("  %s", o)
	}
	if len(s.violations) > 0 {
		tb.Fatalf("two live process groups ran one task at one generation, in %d samples; first: %s", len(s.violations), s.violations[0])
	}
	if s.samples < 10 {
		tb.Fatalf("process sampler took only %d samples", s.samples)
	}
}

// pidsOf are the live processes of task id at generation gen.
func pidsOf(procs []taskProc, id string, gen uint64) []int {
	var out []int
	for _, p := range procs {
		if p.Task == id && p.Generation == gen {
			out = append(out, p.PID)
		}
	}
	return out
}

// ---- the test ----

// TestSelfHealingOnTestnet runs what `make localnet` runs, faster: 4
// validators (200ms blocks), an observer per validator and 3 agents in 3
// zones, with short detection times (heartbeat 1s, suspect 3s, down 6s,
// report window 2s), and the sample workload: 3 replicas, one per agent,
// real processes. One agent, picked at random, is killed with SIGKILL:
// its task's processes die with it, the observers see its node
// unreachable, the chain evicts the task and places it on another agent
// with a higher generation, where it runs (watch shows task_evicted and
// task_placed; the chain shows it Running; /proc shows the process). All
// along, /proc is sampled every 50ms: no placement (task, generation) ever
// runs in two process groups. Then a lying observer reports a healthy
// node unreachable in every window: nothing moves.
func TestSelfHealingOnTestnet(t *testing.T) {
	needE2E(t)
	needProc(t)
	began := time.Now()
	rng := rand.New(rand.NewPCG(testSeed(t), 6))
	h := startHealNet(t, "e2e-heal", 200*time.Millisecond,
		"--heartbeat-interval", "1s", "--suspect-after", "3s", "--down-after", "6s", "--report-window", "2s")
	n := h.run
	ctx := context.Background()
	t.Logf("network up (4 validators, 4 observers, 3 agents Ready) after %s", time.Since(began).Round(10*time.Millisecond))

	// The workload: one task per agent, each a real process group.
	mustRun(t, append([]string{"tx", "workload", "create", "-f", sampleWorkload}, n.txArgs("admin")...)...)
	tasks := h.waitSteady(30 * time.Second)
	byNode := map[string]api.TaskView{}
	for _, tk := range tasks {
		byNode[tk.Node] = tk
	}
	if len(byNode) != 3 {
		t.Fatalf("3 tasks on %d agents: %s; want one per agent", len(byNode), tasksText(tasks))
	}
	procs := scanTaskProcs(n.dir)
	for _, a := range h.m.Agents {
		tk := byNode[a.Name]
		at, err := agentTasks(a)
		if err != nil {
			t.Fatalf("%s /tasks: %v", a.Name, err)
		}
		v := at[tk.ID]
		if v.Generation != tk.Generation || v.State != agent.StateRunning || !pidAlive(v.PID) {
			t.Fatalf("%s /tasks: %s is %+v; the chain says generation %d Running", a.Name, tk.ID, v, tk.Generation)
		}
		if pids := pidsOf(procs, tk.ID, tk.Generation); len(pids) == 0 {
			t.Fatalf("no process in /proc runs %s generation %d (agent %s says pid %d)", tk.ID, tk.Generation, a.Name, v.PID)
		}
	}
	checkAttestedLiveness(t, h, ctx)
	sampler := startSampler(n.dir)
	w := startWatch(t, h.m.Validators[1].RPC, h.m.Validators[2].RPC)

	// SIGKILL one agent at random.
	victim := h.m.Agents[rng.IntN(len(h.m.Agents))].Name
	lost := byNode[victim]
	lostPIDs := pidsOf(scanTaskProcs(n.dir), lost.ID, lost.Generation)
	killedAt := time.Now()
	mustRun(t, "testnet", "kill", n.dir, victim)
	waitUntil(t, 5*time.Second, fmt.Sprintf("the processes %v of %s die with %s", lostPIDs, lost.ID, victim), func() (bool, string) {
		for _, pid := range lostPIDs {
			if pidAlive(pid) {
				return false, fmt.Sprintf("pid %d alive", pid)
			}
		}
		return len(pidsOf(scanTaskProcs(n.dir), lost.ID, lost.Generation)) == 0, "/proc still shows the task"
	})
	goneAfter := time.Since(killedAt)

	// The chain moves the task; it runs on another agent.
	var moved api.TaskView
	// Within the detection, the fence (fence_timeout_ms, 30 s, after the
	// eviction: nothing reports the killed agent's process stopped) and a
	// start.
	waitUntil(t, 60*time.Second, fmt.Sprintf("%s Running on another agent than %s", lost.ID, victim), func() (bool, string) {
		tasks, err := h.tasks(ctx)
		if err != nil {
			return false, err.Error()
		}
		moved = tasks[lost.ID]
		return moved.Generation > lost.Generation && moved.Node != victim && moved.State == "Running", tasksText(tasks)
	})
	recovery := time.Since(killedAt)
	t.Logf("killed %s: %s's processes %v gone after %s; %s Running on %s at generation %d (was %d) after %s (kill → replacement Running)",
		victim, lost.ID, lostPIDs, goneAfter.Round(time.Millisecond), lost.ID, moved.Node, moved.Generation, lost.Generation, recovery.Round(10*time.Millisecond))
	gen := strconv.FormatUint(moved.Generation, 10)
	w.waitFor(t, "node_status", 10*time.Second, "node", victim, "to", "Down")
	w.waitFor(t, "task_evicted", 10*time.Second, "task", lost.ID, "node", victim)
	w.waitFor(t, "task_placed", 10*time.Second, "task", lost.ID, "node", moved.Node, "generation", gen)
	var replacement api.AgentTaskView
	for _, a := range h.m.Agents {
		if a.Name == moved.Node {
			at, err := agentTasks(a)
			if err != nil {
				t.Fatal(err)
			}
			replacement = at[lost.ID]
		}
	}
	if replacement.Generation != moved.Generation || replacement.State != agent.StateRunning || !pidAlive(replacement.PID) {
		t.Fatalf("%s /tasks: %s is %+v; want generation %d Running", moved.Node, lost.ID, replacement, moved.Generation)
	}
	if pids := pidsOf(scanTaskProcs(n.dir), lost.ID, moved.Generation); len(pids) == 0 {
		t.Fatalf("no process in /proc runs %s generation %d", lost.ID, moved.Generation)
	}
	after, err := h.tasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for id, tk := range tasks {
		if id != lost.ID && (after[id].Generation != tk.Generation || after[id].Node != tk.Node) {
			t.Errorf("%s moved from %s g%d to %s g%d, though its agent lives", id, tk.Node, tk.Generation, after[id].Node, after[id].Generation)
		}
	}

	// The agent comes back; its node is Ready again once the observers
	// reach it in a later window.
	mustRun(t, "testnet", "start", n.dir, "--only", victim, "--detach")
	h.waitSteady(30 * time.Second)
	t.Logf("%s restarted; its node Ready again after %s", victim, time.Since(killedAt).Round(10*time.Millisecond))

	// A lying observer: a fifth observer account reports a healthy node
	// unreachable in every window. One vote of five is no quorum.
	mustRun(t, "keys", "add", "liar", "--home", n.dir, "--keyring-backend", "test")
	mustRun(t, append([]string{"tx", "role", "grant", "liar", "observer"}, n.txArgs("admin")...)...)
	var target string
	for _, a := range h.m.Agents {
		if a.Name != victim && (target == "" || rng.IntN(2) == 0) {
			target = a.Name
		}
	}
	before, err := h.tasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	evictedBefore, placedBefore, statusBefore := w.count("task_evicted"), w.count("task_placed"), w.count("node_status", "node", target)
	// One lie in each of 4 successive report windows (2s each): 4 windows
	// take about 8s; 60s is the deadline.
	const lies = 4
	var windows []uint64
	waitUntil(t, 60*time.Second, fmt.Sprintf("the liar's %d reports in %d distinct report windows", lies, lies), func() (bool, string) {
		win := reportWindow(t, n)
		if len(windows) == 0 || win > windows[len(windows)-1] {
			mustRun(t, append([]string{"tx", "node", "report", target, "--unreachable", "--window", fmt.Sprint(win)}, n.txArgs("liar")...)...)
			windows = append(windows, win)
		}
		return len(windows) == lies, fmt.Sprintf("reported in windows %v; chain in window %d", windows, win)
	})
	// Every lie's window is decided: wait two more windows.
	end := windows[len(windows)-1] + 2
	waitUntil(t, 30*time.Second, fmt.Sprintf("report window %d (two after the last lie's)", end), func() (bool, string) {
		win := reportWindow(t, n)
		return win >= end, fmt.Sprintf("chain in window %d", win)
	})
	if st := nodeState(t, n, target); st != "Ready" {
		t.Errorf("%s is %s after the lies; want Ready", target, st)
	}
	if c := w.count("node_status", "node", target); c != statusBefore {
		t.Errorf("watch saw %d status changes of %s during the lies", c-statusBefore, target)
	}
	if e, p := w.count("task_evicted"), w.count("task_placed"); e != evictedBefore || p != placedBefore {
		t.Errorf("tasks moved during the lies: task_evicted %d → %d, task_placed %d → %d", evictedBefore, e, placedBefore, p)
	}
	final, err := h.tasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for id, tk := range before {
		if f := final[id]; f.Generation != tk.Generation || f.Node != tk.Node || f.State != "Running" {
			t.Errorf("%s: %s g%d %s before the lies, %s g%d %s after", id, tk.Node, tk.Generation, tk.State, f.Node, f.Generation, f.State)
		}
	}
	var liar api.AccountView
	if err := json.Unmarshal([]byte(mustRun(t, "query", "account", "liar", "--home", n.dir, "--keyring-backend", "test",
		"--node", h.m.Validators[0].RPC, "-o", "json")), &liar); err != nil {
		t.Fatal(err)
	}
	var params api.ParamsView
	if _, err := h.c.Query(ctx, "/params", &params); err != nil {
		t.Fatal(err)
	}
	// Its votes counted: it disagreed, and was still above the floor below
	// which reports are ignored (so the quorum, not the floor, held).
	if liar.Disagreements == 0 || liar.Jailed || liar.Reputation < params.ReputationFloor {
		t.Errorf("the liar's account: %+v; want disagreements, and a reputation still at or above the floor %d", liar, params.ReputationFloor)
	}
	t.Logf("lying observer: %s reported unreachable in windows %v; it stayed Ready, no task moved (generations %s); liar's reputation %d, %d disagreements",
		target, windows, tasksText(final), liar.Reputation, liar.Disagreements)

	// Stop before start (issue 14 §6, ADR 0020): a task that takes 2 s to
	// stop (it traps SIGTERM) runs on one node, which is drained. The task
	// moves to another node, whose agent starts it only after the drained
	// node's agent stopped the old generation and said so: the sampler
	// never sees both at once. (Placed at once, as before the fence, the
	// new generation ran beside the old one's 2 s of stopping.)
	slow := filepath.Join(t.TempDir(), "slowstop.json")
	if err := os.WriteFile(slow, []byte(`{"name":"slowstop","command":"sh","args":["-c","trap 'sleep 2; exit 0' TERM; while :; do sleep 0.2; done"],`+
		`"replicas":1,"resources":{"cpu_millis":100,"memory_mb":32}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, append([]string{"tx", "workload", "create", "-f", slow}, n.txArgs("admin")...)...)
	var drained api.TaskView
	waitUntil(t, 60*time.Second, "slowstop/0 Running", func() (bool, string) {
		now, err := h.tasksOf(ctx, "slowstop")
		if err != nil {
			return false, err.Error()
		}
		drained = now["slowstop/0"]
		return drained.State == "Running", tasksText(now)
	})
	mustRun(t, append([]string{"tx", "node", "drain", drained.Node}, n.txArgs("admin")...)...)
	var drainedTo api.TaskView
	waitUntil(t, 60*time.Second, fmt.Sprintf("%s Running off the drained %s", drained.ID, drained.Node), func() (bool, string) {
		now, err := h.tasksOf(ctx, "slowstop")
		if err != nil {
			return false, err.Error()
		}
		drainedTo = now[drained.ID]
		return drainedTo.Node != drained.Node && drainedTo.State == "Running", tasksText(now)
	})
	waitUntil(t, 10*time.Second, "the sampler sees the new generation", func() (bool, string) {
		_, _, ok := sampler.seenRunning(drainedTo.ID, drainedTo.Generation)
		return ok, fmt.Sprintf("%s@g%d not seen yet", drainedTo.ID, drainedTo.Generation)
	})
	oldFirst, oldLast, okOld := sampler.seenRunning(drained.ID, drained.Generation)
	newFirst, _, _ := sampler.seenRunning(drainedTo.ID, drainedTo.Generation)
	if !okOld || !newFirst.After(oldLast) {
		t.Errorf("drain of %s: %s generation %d ran %s–%s, generation %d first seen %s on %s: they overlap",
			drained.Node, drained.ID, drained.Generation, oldFirst.Format("15:04:05.000"), oldLast.Format("15:04:05.000"),
			drainedTo.Generation, newFirst.Format("15:04:05.000"), drainedTo.Node)
	}
	for _, o := range sampler.generationOverlaps() {
		t.Errorf("two generations at once: %s", o)
	}
	t.Logf("stop before start: drain of %s moved %s to %s (generation %d → %d); the old process (2 s to stop) last seen %s before the new one first ran",
		drained.Node, drained.ID, drainedTo.Node, drained.Generation, drainedTo.Generation, newFirst.Sub(oldLast).Round(time.Millisecond))
	mustRun(t, append([]string{"tx", "node", "uncordon", drained.Node}, n.txArgs("admin")...)...)
	sampler.finish(t)
	t.Logf("test took %s", time.Since(began).Round(100*time.Millisecond))
}

// startHealNet initialises a 4-validator, 3-agent network on free ports,
// starts the validators, applies params (flags of `tx params update`, if
// any), then starts the observers and agents and waits until every
// agent's node is Ready. It stops the network at the end of the test.
func startHealNet(t *testing.T, chainID string, blockTime time.Duration, params ...string) *healNet {
	t.Helper()
	return startHealNetWith(t, chainID, blockTime, nil, params...)
}

// startHealNetWith is startHealNet with prep run on the new network's
// manifest after testnet init and before anything starts (the nemesis
// rewires the links through proxies there).
func startHealNetWith(t *testing.T, chainID string, blockTime time.Duration, prep func(*networks.Manifest), params ...string) *healNet {
	t.Helper()
	base, err := networks.FindFreeBasePort(4, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "net")
	mustRun(t, "testnet", "init", "--validators", "4", "--agents", "3", "--output", dir, "--chain-id", chainID,
		"--base-port", fmt.Sprint(base), "--block-time", blockTime.String(), "--no-metrics")
	m, err := networks.LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if prep != nil {
		prep(m)
	}
	c, err := client.New(m.Validators[0].RPC)
	if err != nil {
		t.Fatal(err)
	}
	h := &healNet{tb: t, m: m, c: c, run: &testnet{t: t, dir: dir, m: m}}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, m)
		}
		out, err := run(t, "testnet", "stop", dir)
		if err != nil {
			t.Errorf("testnet stop: %v\n%s", err, out)
		}
	})
	var vals, others []string
	for _, p := range m.Processes() {
		if p.Kind == networks.KindValidator {
			vals = append(vals, p.Name)
		} else {
			others = append(others, p.Name)
		}
	}
	mustRun(t, "testnet", "start", dir, "--detach", "--only", strings.Join(vals, ","))
	if len(params) > 0 {
		h.run.updateParams(params...)
	}
	out := mustRun(t, "testnet", "start", dir, "--detach", "--only", strings.Join(others, ","))
	for _, a := range m.Agents {
		if !strings.Contains(out, a.Name+" heartbeating through") {
			t.Fatalf("testnet start --only %s: no word of %s heartbeating:\n%s", strings.Join(others, ","), a.Name, out)
		}
	}
	waitUntil(t, 30*time.Second, "every agent's node Ready", func() (bool, string) {
		states, err := h.nodeStates(context.Background())
		if err != nil {
			return false, err.Error()
		}
		for _, a := range m.Agents {
			if states[a.Name] != "Ready" {
				return false, fmt.Sprint(states)
			}
		}
		return true, ""
	})
	h.run.checkAllUp(2)
	ns, out := h.run.status()
	if len(ns.Observers) != len(m.Validators) || len(ns.Agents) != len(m.Agents) {
		t.Fatalf("testnet status lists %d observers and %d agents; want %d and %d:\n%s", len(ns.Observers), len(ns.Agents), len(m.Validators), len(m.Agents), out)
	}
	for _, o := range ns.Observers {
		if o.PID <= 0 {
			t.Errorf("testnet status: observer %s has no live process:\n%s", o.Name, out)
		}
	}
	for _, a := range ns.Agents {
		if !a.Up || !a.Connected || a.PID <= 0 || a.NodeState != "Ready" {
			t.Errorf("testnet status: agent %s up=%v connected=%v pid=%d node=%q error=%q; want up, connected, a live pid, node Ready:\n%s",
				a.Name, a.Up, a.Connected, a.PID, a.NodeState, a.Error, out)
		}
	}
	return h
}

// checkAttestedLiveness: with attested liveness (ADR 0018, on by default)
// the observers attest every agent's node, each agent sees it in its
// proven node record and skips its periodic heartbeats, and the nodes stay
// Ready with no heartbeat committed for several intervals.
func checkAttestedLiveness(t *testing.T, h *healNet, ctx context.Context) {
	t.Helper()
	began := time.Now()
	waitUntil(t, 30*time.Second, "every agent's node attested, its periodic heartbeats skipped", func() (bool, string) {
		var notYet []string
		for _, a := range h.m.Agents {
			v, err := agentHealth(a)
			if err != nil || !v.ControlPlane.Attested || v.ControlPlane.HeartbeatsSkipped < 2 {
				notYet = append(notYet, fmt.Sprintf("%s: attested=%t skipped=%d err=%v", a.Name, v.ControlPlane.Attested, v.ControlPlane.HeartbeatsSkipped, err))
			}
		}
		return len(notYet) == 0, strings.Join(notYet, "; ")
	})
	seqs := func() (map[string]uint64, string) {
		nodes, err := h.c.Nodes(ctx, nil)
		if err != nil {
			t.Fatalf("nodes: %v", err)
		}
		out, bad := map[string]uint64{}, ""
		for _, nv := range nodes.Nodes {
			out[nv.ID] = nv.LastHeartbeatSeq
			if nv.State != "Ready" || !nv.Attested {
				bad += fmt.Sprintf(" %s %s attested=%t;", nv.ID, nv.State, nv.Attested)
			}
		}
		return out, bad
	}
	first, bad := seqs()
	if bad != "" {
		t.Fatalf("agents attested, yet the chain shows:%s", bad)
	}
	// Five heartbeat intervals (1s here): every node stays Ready and
	// attested, and commits at most 2 heartbeats (its task's checkpoint,
	// due every 5 intervals while attested; 5 without attestation).
	hold := time.Now().Add(5 * time.Second)
	for time.Now().Before(hold) {
		now, bad := seqs()
		if bad != "" {
			t.Fatalf("while attested:%s", bad)
		}
		for id, seq := range now {
			if seq > first[id]+2 {
				t.Fatalf("node %s committed heartbeat %d (was %d) within 5 intervals while attested: more than its checkpoints need", id, seq, first[id])
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("attested liveness: every agent's node attested and Ready, at most 2 heartbeats (checkpoints) committed in 5 intervals (%s after the workload settled)", time.Since(began).Round(100*time.Millisecond))
}
