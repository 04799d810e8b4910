package tests

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/internal/linkproxy"
	"github.com/phalanx-bft/phalanx/networks"
	"github.com/phalanx-bft/phalanx/types"
)

// The nemesis (issue 13, docs/nemesis.md): a live 4-validator network with
// an observer per validator and 3 agents, under client load from several
// operators through different validators, while a seeded schedule kills
// and pauses its processes; then checkers over the whole history.
var (
	nemesisCycles = flag.Int("nemesis-cycles", 3, "TestNemesis: fault cycles (make nemesis CYCLES=N; make test runs 3)")
	nemesisFault  = flag.Duration("nemesis-fault", 6*time.Second, "TestNemesis: how long each cycle's faults last")
	nemesisQuiet  = flag.Duration("nemesis-quiet", 3*time.Second, "TestNemesis: fault-free time after each cycle's repair")
	nemesisKeep   = flag.String("nemesis-keep", "", "TestNemesis: on a violation, copy the network's directory (homes, logs, data) into this directory")
)

// Bounds the checkers hold the network to (docs/nemesis.md).
const (
	// nemesisConverge: after the last fault is repaired, every workload
	// runs its desired replicas within this.
	nemesisConverge = 90 * time.Second
	// nemesisVerdictGrace: a node whose agent was killed or paused may be
	// Suspect or Down until this long after the agent is back.
	nemesisVerdictGrace = 30 * time.Second
	// nemesisResume: after a 2|2 partition heals, a new block commits
	// within this.
	nemesisResume    = 30 * time.Second
	nemesisWorkloads = 3
	nemesisClients   = 3
)

type faultKind string

const (
	faultKillValidator  faultKind = "kill-validator"  // SIGKILL; restarted at repair
	faultPauseValidator faultKind = "pause-validator" // SIGSTOP; SIGCONT at repair
	faultKillObserver   faultKind = "kill-observer"
	faultPauseObserver  faultKind = "pause-observer"
	faultKillAgent      faultKind = "kill-agent"
	faultPauseAgent     faultKind = "pause-agent"
	// faultKillAgentsValidator: SIGKILL the validator an agent is
	// talking to (its /healthz control_plane.node), timed while one of
	// its heartbeats waits to commit when one does within 3 s; Target is
	// the agent.
	faultKillAgentsValidator faultKind = "kill-agents-validator"
	// faultKillObserversValidator: SIGKILL the validator an observer
	// reports through (its own), timed at a report window's start while
	// that validator's mempool holds transactions (the observer's report
	// among them when it has sent it); Target is the observer.
	faultKillObserversValidator faultKind = "kill-observers-validator"
	// Link faults (nemLinks). A cut black-holes the links (bytes held, as
	// on a real partition) or, with Reset, closes their connections.
	//
	// faultPartitionHalves splits the validators 2|2: no side has a
	// quorum, so the chain must halt (at most one more block, one whose
	// votes were already delivered) and resume once healed. It is the
	// cycle's validator fault.
	faultPartitionHalves faultKind = "partition-halves"
	// faultPartitionOne cuts one validator from the other three (3|1).
	faultPartitionOne faultKind = "partition-one"
	// faultIsolate cuts one validator from the others and from every
	// agent (its observer, beside it, still reaches it).
	faultIsolate faultKind = "isolate-validator"
	// faultRing leaves the validators a ring (Side its order): each one
	// reaches only its two neighbours, so votes travel through relays.
	faultRing faultKind = "partition-ring"
	// faultSlowLinks delays every byte between validators by Latency ±
	// Jitter.
	faultSlowLinks faultKind = "slow-links"
	// faultCutAgent cuts an agent from every validator. Its node must stay
	// Ready: the observers still reach it and attest it.
	faultCutAgent faultKind = "cut-agent"
	// faultLyingObserver replaces an observer with a Byzantine one signing
	// with its key (nemLiar): random reachability, random failing tasks,
	// random attestations. With 3 honest observers of 4, no verdict may
	// follow from its lies.
	faultLyingObserver faultKind = "lying-observer"
	// faultDiskFull fills the agent's home, a small tmpfs, until writes
	// fail with ENOSPC; it is emptied at repair. The agent must keep its
	// node Ready and its tasks running.
	faultDiskFull faultKind = "disk-full"
	// faultDoubleSign: a second process signs with a validator's key
	// (checkDoubleSign). Not in the schedule: it runs once, at the end.
	faultDoubleSign faultKind = "double-sign"
)

var faultKinds = []faultKind{faultKillValidator, faultPauseValidator, faultKillObserver, faultPauseObserver, faultKillAgent, faultPauseAgent,
	faultKillAgentsValidator, faultKillObserversValidator, faultPartitionHalves, faultPartitionOne, faultIsolate, faultRing, faultSlowLinks, faultCutAgent,
	faultLyingObserver, faultDiskFull}

type nemFault struct {
	Kind   faultKind
	Target string // the process it strikes (valI, observerI, agentI); "" for links between validators
	// Side: partition-halves, the validators (indices) on one side;
	// partition-ring, the ring's order.
	Side            []int
	Reset           bool // cuts: close the connections instead of holding them
	Latency, Jitter time.Duration
}

func (f nemFault) String() string {
	s := string(f.Kind)
	if f.Target != "" {
		s += " " + f.Target
	}
	if f.Side != nil {
		var names []string
		for _, i := range f.Side {
			names = append(names, networks.ValidatorName(i))
		}
		s += " " + strings.Join(names, ",")
	}
	switch {
	case f.Latency > 0:
		s += fmt.Sprintf(" %s±%s", f.Latency, f.Jitter)
	case isCut(f.Kind) && f.Reset:
		s += " (reset)"
	case isCut(f.Kind):
		s += " (black hole)"
	}
	return s
}

func isCut(k faultKind) bool {
	switch k {
	case faultPartitionHalves, faultPartitionOne, faultIsolate, faultRing, faultCutAgent:
		return true
	}
	return false
}

// nemesisSchedule is the seeded plan: each cycle 1 to 3 faults on distinct
// processes, at most one that takes a validator out of the quorum (f = 1
// of 4: a kill, a pause, a partition; partition-halves is the one that
// takes two, to check the halt), at most one slow-links, and a lying
// observer only beside honest observers. The same seed gives the same
// plan.
func nemesisSchedule(seed uint64, cycles int, m *networks.Manifest) [][]nemFault {
	rng := rand.New(rand.NewPCG(seed, 0x6e656d65736973)) // "nemesis"
	var vals, obs, agents []string
	for _, p := range m.Processes() {
		switch p.Kind {
		case networks.KindValidator:
			vals = append(vals, p.Name)
		case networks.KindObserver:
			obs = append(obs, p.Name)
		case networks.KindAgent:
			agents = append(agents, p.Name)
		}
	}
	plan := make([][]nemFault, cycles)
	for c := range plan {
		n := 1 + rng.IntN(3)
		used := map[string]bool{}
		validator, slow, muted := false, false, -1
		for len(plan[c]) < n {
			k := faultKinds[rng.IntN(len(faultKinds))]
			f := nemFault{Kind: k}
			var pool []string
			switch k {
			case faultKillValidator, faultPauseValidator, faultPartitionOne, faultIsolate:
				if validator {
					continue
				}
				pool = vals
			case faultKillAgentsValidator:
				if validator {
					continue
				}
				pool = agents
			case faultKillObserversValidator:
				if validator {
					continue
				}
				pool = obs
			case faultPartitionHalves:
				if validator {
					continue
				}
				f.Side = rng.Perm(len(vals))[:len(vals)/2]
				sort.Ints(f.Side)
			case faultRing:
				if validator {
					continue
				}
				f.Side = rng.Perm(len(vals))
			case faultSlowLinks:
				if slow {
					continue
				}
				slow = true
				f.Latency = time.Duration(20+rng.IntN(181)) * time.Millisecond
				f.Jitter = f.Latency / 2
			case faultLyingObserver, faultKillObserver, faultPauseObserver:
				pool = obs
			default: // kill-agent, pause-agent, cut-agent, disk-full
				pool = agents
			}
			if pool != nil {
				f.Target = pool[rng.IntN(len(pool))]
				if used[f.Target] {
					continue
				}
			}
			// At most one observer out of action (f = 1 of 4 observers, as
			// of validators): one observer may be struck by several
			// faults, two may not.
			o := mutedObserver(f, vals, obs)
			if o == allObservers && muted != -1 || o >= 0 && muted != -1 && muted != o || o != -1 && muted == allObservers {
				continue
			}
			if o != -1 {
				muted = o
			}
			if f.Target != "" {
				used[f.Target] = true
			}
			if isCut(k) {
				f.Reset = rng.IntN(2) == 0
			}
			validator = validator || isValidatorFault(k)
			plan[c] = append(plan[c], f)
		}
	}
	return plan
}

// allObservers: partition-halves halts the chain, so every observer's
// reports wait.
const allObservers = -2

// mutedObserver is the index of the observer the fault puts out of
// action, -1 for none, allObservers for all: its own faults, and those of
// its validator that keep its reports from committing (a paused or
// partitioned validator answers, so its observer does not fail over; a
// killed one does not, and it does).
func mutedObserver(f nemFault, vals, obs []string) int {
	switch f.Kind {
	case faultKillObserver, faultPauseObserver, faultLyingObserver:
		return slices.Index(obs, f.Target)
	case faultPauseValidator, faultPartitionOne, faultIsolate:
		return slices.Index(vals, f.Target)
	case faultPartitionHalves:
		return allObservers
	}
	return -1
}

// isValidatorFault: the fault takes a validator (two for
// partition-halves) out of the quorum.
func isValidatorFault(k faultKind) bool {
	switch k {
	case faultKillValidator, faultPauseValidator, faultKillAgentsValidator, faultKillObserversValidator, faultPartitionHalves, faultPartitionOne, faultIsolate, faultRing:
		return true
	}
	return false
}

// ---- client operations and their model ----

type nemInput struct {
	Op       string // create, scale, delete, read
	Key      string
	Replicas uint32
}

type nemOutput struct {
	Known    bool   // false: the outcome is unknown (it may or may not take effect)
	Code     uint32 // committed: 0 applied, else the failure's code
	Replicas uint32 // read: 0 when absent
}

// nemesisModel: each workload is a register holding its replicas (0:
// absent). create applies when absent, is a no-op with the same replicas
// and fails (code 15) with others; scale and delete fail (code 16) when
// absent; a read returns the register.
var nemesisModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(nemInput).Key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return uint32(0) },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(uint32), input.(nemInput), output.(nemOutput)
		var code, next uint32 = 0, st
		switch in.Op {
		case "read":
			return out.Known && out.Replicas == st, st
		case "create":
			switch {
			case st == 0:
				next = in.Replicas
			case st != in.Replicas:
				code = api.ErrWorkloadExists.Code
			}
		case "scale":
			if st == 0 {
				code = api.ErrWorkloadNotFound.Code
			} else {
				next = in.Replicas
			}
		case "delete":
			if st == 0 {
				code = api.ErrWorkloadNotFound.Code
			} else {
				next = 0
			}
		}
		if !out.Known {
			return true, next // took effect here (or, linearized last, never mattered)
		}
		if out.Code != code {
			return false, st
		}
		return true, next
	},
	Equal: func(a, b any) bool { return a.(uint32) == b.(uint32) },
	DescribeOperation: func(input, output any) string {
		in, out := input.(nemInput), output.(nemOutput)
		res := "?"
		if out.Known {
			res = fmt.Sprintf("code %d", out.Code)
			if in.Op == "read" {
				res = fmt.Sprint(out.Replicas)
			}
		}
		return fmt.Sprintf("%s(%s, %d) -> %s", in.Op, in.Key, in.Replicas, res)
	},
}

// nemHistory records the clients' operations and what they saw commit.
type nemHistory struct {
	mu      sync.Mutex
	start   time.Time
	ops     []porcupine.Operation
	acked   map[int64][]string // height -> tx hashes acknowledged committed there
	maxSeen int64              // the highest height of a completed write
}

func (h *nemHistory) now() int64 { return int64(time.Since(h.start)) }

func (h *nemHistory) add(client int, in nemInput, out nemOutput, call, ret int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
}

func (h *nemHistory) ack(hash string, height int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.acked[height] = append(h.acked[height], hash)
	h.maxSeen = max(h.maxSeen, height)
}

func (h *nemHistory) floor() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.maxSeen
}

func nemesisSpec(name string, replicas uint32) types.WorkloadSpec {
	return types.WorkloadSpec{
		Name: name, Command: "sleep", Args: []string{"3600"}, Replicas: replicas,
		Resources:     types.Resources{CpuMillis: 50, MemoryMb: 16},
		RestartPolicy: types.RestartPolicy{MaxRestarts: 5, BackoffBaseMs: 500, BackoffMaxMs: 5000},
	}
}

// nemClient runs operations through its own validator until stop closes.
func nemClient(ctx context.Context, id int, c *client.Client, key ed25519.PrivateKey, rng *rand.Rand, hist *nemHistory, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(100+rng.IntN(300)) * time.Millisecond):
		}
		in := nemInput{Key: fmt.Sprintf("nem-%d", rng.IntN(nemesisWorkloads))}
		switch r := rng.IntN(10); {
		case r < 3:
			in.Op = "read"
		case r < 5:
			in.Op, in.Replicas = "create", uint32(1+rng.IntN(3))
		case r < 8:
			in.Op, in.Replicas = "scale", uint32(1+rng.IntN(3))
		default:
			in.Op = "delete"
		}
		if in.Op == "read" {
			nemRead(ctx, id, c, in, hist)
			continue
		}
		var msg client.Msg
		switch in.Op {
		case "create":
			msg = &types.CreateWorkload{Spec: nemesisSpec(in.Key, in.Replicas)}
		case "scale":
			msg = &types.UpdateWorkload{Spec: nemesisSpec(in.Key, in.Replicas)}
		case "delete":
			msg = &types.DeleteWorkload{Name: in.Key}
		}
		call := hist.now()
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res, err := c.SignAndBroadcast(octx, key, msg, client.TxOptions{})
		cancel()
		ret := hist.now()
		var te *client.TxError
		switch {
		case err == nil && res != nil && res.Height > 0:
			hist.ack(res.Hash, res.Height)
			hist.add(id, in, nemOutput{Known: true}, call, ret)
		case errors.As(err, &te) && te.Height > 0:
			hist.ack(te.Hash, te.Height) // committed, with a failure code
			hist.add(id, in, nemOutput{Known: true, Code: te.Code}, call, ret)
		default:
			// Refused, dropped, or not seen in time: it may still take
			// effect (another node may hold it), so its return is open.
			hist.add(id, in, nemOutput{}, call, 1<<62)
		}
	}
}

// nemRead reads a workload at a height at least that of every write
// completed before the read began (a session guarantee a client gets by
// reading at its last write's height), so reads are linearizable iff the
// chain is.
func nemRead(ctx context.Context, id int, c *client.Client, in nemInput, hist *nemHistory) {
	call := hist.now()
	floor := hist.floor()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var w api.WorkloadView
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		h, err := c.Query(qctx, client.WorkloadPath(in.Key), &w)
		cancel()
		if (err == nil || client.IsNotFound(err)) && h >= floor {
			out := nemOutput{Known: true}
			if err == nil {
				out.Replicas = w.Spec.Replicas
			}
			hist.add(id, in, out, call, hist.now())
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	// No answer at a recent enough height: a read with no result says
	// nothing and is left out.
}

// ---- processes ----

func nemProcess(t *testing.T, m *networks.Manifest, name string) networks.Process {
	t.Helper()
	ps, err := m.SelectProcesses([]string{name})
	if err != nil || len(ps) != 1 {
		t.Fatalf("process %s: %v", name, err)
	}
	return ps[0]
}

func nemPID(p networks.Process) (int, error) {
	b, err := os.ReadFile(p.PIDFile)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// aimAtAgentsValidator returns the validator agent a is talking to, after
// waiting (at most 3 s) for one of its heartbeats to be pending; timed
// says whether one was.
func aimAtAgentsValidator(t *testing.T, m *networks.Manifest, links *nemLinks, agentName string) (validator, timed string) {
	t.Helper()
	var a networks.Agent
	for _, x := range m.Agents {
		if x.Name == agentName {
			a = x
		}
	}
	timed = "untimed (no heartbeat pending within 3 s: attested nodes rarely send one)"
	var node string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		v, err := agentHealth(a)
		if err != nil {
			continue
		}
		node = v.ControlPlane.Node
		if v.ControlPlane.PendingHeartbeats > 0 {
			timed = "while a heartbeat waits to commit"
			break
		}
	}
	if v := links.validatorAt(node); v != "" {
		return v, timed
	}
	return m.Validators[0].Name, timed + fmt.Sprintf("; its node %q unknown, val0 instead", node)
}

// aimAtObserversValidator returns observer obs's validator after waiting
// (at most 7 s) for a report window to open on it and then (at most 2 s)
// for its mempool to hold a transaction; timed says what it saw.
func aimAtObserversValidator(m *networks.Manifest, obs string) (v networks.Validator, timed string) {
	for _, x := range m.Validators {
		if x.Observer == obs {
			v = x
		}
	}
	c, err := client.New(v.RPC)
	if err != nil {
		return v, "untimed: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	window := func() (uint64, error) { return reportWindowAt(ctx, c) }
	w0, err := window()
	if err != nil {
		return v, "untimed: " + err.Error()
	}
	for deadline := time.Now().Add(7 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if w, err := window(); err == nil && w > w0 {
			break
		}
		if time.Now().After(deadline) {
			return v, "untimed (no new report window within 7 s)"
		}
	}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if n, err := c.RPC().NumUnconfirmedTxs(ctx); err == nil && n.Count > 0 {
			return v, fmt.Sprintf("at a window's start with %d transactions in its mempool", n.Count)
		}
	}
	return v, "at a window's start, its mempool empty"
}

// ---- the test ----

// TestNemesis: `make test` runs 3 cycles (about 2 minutes), and the
// regression tests of what the nemesis found (checkRejoinWhileValidatorPaused); `make nemesis
// CYCLES=200 SEED=S` is the soak. Each cycle injects its faults, holds
// them for -nemesis-fault, repairs them (restart, SIGCONT), waits for
// every validator to catch up, and rests -nemesis-quiet. Then: the
// checkers, each violation a failure; the last line is `nemesis: N
// cycles, F faults, V violations`.
func TestNemesis(t *testing.T) {
	needE2E(t)
	needProc(t)
	seed := testSeed(t)
	var links *nemLinks
	var disks *nemDisks
	h := startHealNetWith(t, "nemesis-1", time.Second, func(m *networks.Manifest) {
		links = wireNemLinks(t, m, seed)
		disks = mountNemDisks(t, m)
	})
	m := h.m
	plan := nemesisSchedule(seed, *nemesisCycles, m)
	for i, c := range plan {
		t.Logf("schedule, cycle %d: %v", i+1, c)
	}

	// Operators: one key each, granted the operator role by the admin.
	kr, err := keyring.New(m.Dir, keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kr.Signer(m.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys := make([]ed25519.PrivateKey, nemesisClients)
	for i := range keys {
		var s [ed25519.SeedSize]byte
		copy(s[:], fmt.Sprintf("nemesis operator %d / %d", i, seed))
		keys[i] = ed25519.NewKeyFromSeed(s[:])
		addr := crypto.Address(keys[i].Public().(ed25519.PublicKey))
		if _, err := h.c.SignAndBroadcast(ctx, admin, &types.GrantRole{Address: addr, Role: types.ROLE_OPERATOR}, client.TxOptions{}); err != nil {
			t.Fatalf("grant operator %d: %v", i, err)
		}
	}
	hist := &nemHistory{start: time.Now(), acked: map[int64][]string{}}
	stop := make(chan struct{})
	var clients sync.WaitGroup
	for i := range keys {
		v := m.Validators[i%len(m.Validators)]
		var others []string
		for _, o := range m.Validators {
			if o.Name != v.Name {
				others = append(others, o.RPC)
			}
		}
		c0, err := client.New(v.RPC)
		if err != nil {
			t.Fatal(err)
		}
		c, err := c0.WithFallbacks(others...)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, uint64(i)+1))
		clients.Go(func() { nemClient(ctx, i, c, keys[i], rng, hist, stop) })
	}
	sampler := startSampler(h.run.dir)
	verdicts := startVerdictWatch(m)

	var violations []string
	violate := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		violations = append(violations, msg)
		t.Errorf("violation: %s", msg)
	}
	faults := 0
	byKind := map[faultKind]int{}
	for i, cycle := range plan {
		// Repairs run as one step: links heal first, then the liar stops
		// and disks empty, paused processes resume, and killed ones
		// restart, validators before the rest (a restart waits until its
		// process is ready, which may need the others).
		var heals, conts, restarts []func()
		for _, f := range cycle {
			mode := linkproxy.Blackhole
			if f.Reset {
				mode = linkproxy.Reset
			}
			target := f.Target
			switch f.Kind {
			case faultKillAgentsValidator:
				v, timed := aimAtAgentsValidator(t, m, links, f.Target)
				t.Logf("cycle %d: %s: %s talks to %s; killing it %s", i+1, f, f.Target, v, timed)
				target = v
			case faultKillObserversValidator:
				v, timed := aimAtObserversValidator(m, f.Target)
				t.Logf("cycle %d: %s: %s reports through %s; killing it %s", i+1, f, f.Target, v.Name, timed)
				target = v.Name
			case faultPartitionHalves:
				links.partition(f.Side, mode)
				// Read after the cut: only a block whose votes were
				// delivered may follow.
				h0 := nemMaxHeight(m)
				check := func() {
					h1 := nemMaxHeight(m)
					if h1 > h0+1 {
						violate("cycle %d: %s: the highest block went from %d to %d with no side holding a quorum", i+1, f, h0, h1)
					}
					links.healAll()
					start := time.Now()
					for nemMaxHeight(m) <= h1 && time.Since(start) < nemesisResume {
						time.Sleep(100 * time.Millisecond) // a poll with a deadline
					}
					if h2 := nemMaxHeight(m); h2 <= h1 {
						violate("cycle %d: %s: the chain did not resume within %s of the heal (height %d)", i+1, f, nemesisResume, h2)
					} else {
						t.Logf("cycle %d: %s: halted at %d (%d when cut); height %d %s after the heal", i+1, f, h1, h0, h2, time.Since(start).Round(10*time.Millisecond))
					}
				}
				heals = append([]func(){check}, heals...) // first: the other heals heal every link
			case faultPartitionOne, faultIsolate:
				v := validatorIndex(m, f.Target)
				links.partition([]int{v}, mode)
				if f.Kind == faultIsolate {
					for _, a := range m.Agents {
						links.cutAgent(a.Name, v, mode)
					}
				}
				heals = append(heals, links.healAll)
			case faultRing:
				n := len(f.Side)
				for x := range n {
					for y := x + 2; y < n; y++ {
						if x == 0 && y == n-1 {
							continue // neighbours round the ring
						}
						links.cutPair(f.Side[x], f.Side[y], mode)
					}
				}
				heals = append(heals, links.healAll)
			case faultSlowLinks:
				links.slow(f.Latency, f.Jitter)
				heals = append(heals, links.healAll)
			case faultCutAgent:
				links.cutAgent(f.Target, -1, mode)
				heals = append(heals, links.healAll)
			case faultDiskFull:
				if free, ok := disks.fill(t, f.Target); ok {
					conts = append(conts, free)
				} else {
					t.Logf("cycle %d: %s skipped: %s", i+1, f, disks.why)
				}
			}
			faults++
			byKind[f.Kind]++
			if target == "" || f.Kind == faultCutAgent || f.Kind == faultDiskFull || f.Kind == faultPartitionOne || f.Kind == faultIsolate {
				continue // a link or disk fault: the process runs on
			}
			p := nemProcess(t, m, target)
			pid, err := nemPID(p)
			if err != nil {
				t.Fatalf("cycle %d: %s: pid: %v", i+1, f, err)
			}
			if f.Kind == faultKillAgent || f.Kind == faultPauseAgent {
				verdicts.agentFault(target, true)
			}
			switch f.Kind {
			case faultPauseValidator, faultPauseObserver, faultPauseAgent:
				_ = syscall.Kill(pid, syscall.SIGSTOP)
				conts = append(conts, func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
				continue
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
			waitUntil(t, 10*time.Second, target+" gone", func() (bool, string) { return syscall.Kill(pid, 0) != nil, "alive" })
			restart := func() { mustRun(t, "testnet", "start", m.Dir, "--detach", "--only", target) }
			if p.Kind == networks.KindValidator {
				restarts = append([]func(){restart}, restarts...)
			} else {
				restarts = append(restarts, restart)
			}
			if f.Kind == faultLyingObserver {
				stopLiar := startNemLiar(t, m, target, seed+uint64(i))
				conts = append([]func(){stopLiar}, conts...)
			}
		}
		t.Logf("cycle %d: %v injected", i+1, cycle)
		time.Sleep(*nemesisFault) // the faults' duration is the schedule, not a synchronisation
		for _, r := range append(append(heals, conts...), restarts...) {
			r()
		}
		for _, f := range cycle {
			if f.Kind == faultKillAgent || f.Kind == faultPauseAgent {
				verdicts.agentFault(f.Target, false)
			}
		}
		diverged := nemAppHashes(ctx, t, m)
		for _, d := range diverged {
			violate("cycle %d: %s", i+1, d)
		}
		if len(diverged) > 0 {
			// A validator is out for good: the run stops here, and the
			// checkers below look at what happened so far.
			plan = plan[:i+1]
			break
		}
		for _, v := range m.Validators {
			waitCaughtUp(t, m, v, 60*time.Second)
		}
		t.Logf("cycle %d: repaired at height %d", i+1, nemMaxHeight(m))
		time.Sleep(*nemesisQuiet)
	}
	close(stop)
	clients.Wait()

	// Convergence: every workload at its desired Running replicas.
	convergedIn, err := nemConverge(ctx, h.c)
	if err != nil {
		violate("convergence: not within %s of the last repair: %v", nemesisConverge, err)
	} else {
		t.Logf("convergence: every workload at its desired replicas %s after the last repair", convergedIn.Round(100*time.Millisecond))
	}
	for _, v := range verdicts.finish() {
		violate("false verdict: %s", v)
	}
	for _, v := range nemChainAgreement(ctx, t, m) {
		violate("chain: %s", v)
	}
	for _, v := range nemAckedDurable(ctx, t, m, hist) {
		violate("acknowledged transaction: %s", v)
	}
	// Stop before start (issue 14 §6, ADR 0020) and self-fencing (§5,
	// ADR 0021): the workloads are stop-first, so no task may run at two
	// generations at once, whatever the faults. The chain holds a
	// replacement until the old agent reports the stop, or for
	// fence_timeout_ms; an agent that cannot verify the chain for that
	// long has stopped its tasks by then (or its reaper has).
	for _, o := range sampler.generationOverlaps() {
		violate("two generations at once: %s", o)
	}
	sampler.finish(t) // fails on one task at one generation in two process groups
	hist.mu.Lock()
	ops := append([]porcupine.Operation(nil), hist.ops...)
	hist.mu.Unlock()
	res, info := porcupine.CheckOperationsVerbose(nemesisModel, ops, time.Minute)
	switch res {
	case porcupine.Illegal:
		path := fmt.Sprintf("%s/nemesis-linearizability.html", t.TempDir())
		if f, err := os.Create(path); err == nil {
			_ = porcupine.Visualize(nemesisModel, info, f)
			_ = f.Close()
		}
		violate("the clients' history of %d operations is not linearizable (porcupine; visualization %s)", len(ops), path)
	case porcupine.Unknown:
		t.Logf("linearizability: porcupine timed out on %d operations (not counted as a violation)", len(ops))
	default:
		t.Logf("linearizability: %d client operations, linearizable (porcupine)", len(ops))
	}
	if len(violations) == 0 {
		// The end's scenarios need a sound network: after a violation
		// they could only fail for its sake.
		checkRejoinWhileValidatorPaused(t, h, links)
		for _, v := range checkDoubleSign(t, m) {
			violate("%s", v)
		}
		byKind[faultDoubleSign]++
		faults++
	}
	if len(violations) > 0 {
		nemKeep(t, m)
	}
	var kinds []string
	for _, k := range append(faultKinds, faultDoubleSign) {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, byKind[k]))
	}
	t.Logf("faults by kind: %s", strings.Join(kinds, ", "))
	line := fmt.Sprintf("nemesis: %d cycles, %d faults, %d violations", len(plan), faults, len(violations))
	t.Log(line)
	fmt.Println(line)
}

// nemConverge waits until every workload has its desired replicas
// Running.
func nemConverge(ctx context.Context, c *client.Client) (time.Duration, error) {
	start := time.Now()
	var last string
	for time.Since(start) < nemesisConverge {
		var ws api.WorkloadsAnswer
		_, err := c.Query(ctx, "/workloads", &ws)
		if err == nil {
			last = ""
			for _, w := range ws.Workloads {
				if w.Running != int(w.Spec.Replicas) {
					last += fmt.Sprintf("%s %d of %d Running; ", w.Name, w.Running, w.Spec.Replicas)
				}
			}
			if last == "" {
				return time.Since(start), nil
			}
		} else {
			last = err.Error()
		}
		time.Sleep(500 * time.Millisecond)
	}
	return 0, errors.New(last)
}

// nemChainAgreement compares every validator's block id and app hash at
// every height up to the lowest latest height.
func nemChainAgreement(ctx context.Context, t *testing.T, m *networks.Manifest) []string {
	top := int64(-1)
	for _, v := range m.Validators {
		hgt, err := rpcHeight(v.RPC)
		if err != nil {
			return []string{fmt.Sprintf("%s does not answer: %v", v.Name, err)}
		}
		if top < 0 || hgt < top {
			top = hgt
		}
	}
	type meta struct{ block, app string }
	metas := make([]map[int64]meta, len(m.Validators))
	for i, v := range m.Validators {
		metas[i] = map[int64]meta{}
		rc := rpcClient(t, v.RPC)
		for lo := int64(1); lo <= top; lo += 20 {
			hi := min(lo+19, top)
			bi, err := rc.BlockchainInfo(ctx, lo, hi)
			if err != nil {
				return []string{fmt.Sprintf("%s blockchain %d-%d: %v", v.Name, lo, hi, err)}
			}
			for _, bm := range bi.BlockMetas {
				metas[i][bm.Header.Height] = meta{bm.BlockID.Hash.String(), bm.Header.AppHash.String()}
			}
		}
	}
	var out []string
	for hgt := int64(1); hgt <= top; hgt++ {
		ref := metas[0][hgt]
		for i := 1; i < len(metas); i++ {
			if got := metas[i][hgt]; got != ref {
				out = append(out, fmt.Sprintf("height %d: %s has block %s app hash %s, %s has %s / %s",
					hgt, m.Validators[0].Name, ref.block, ref.app, m.Validators[i].Name, got.block, got.app))
			}
		}
	}
	t.Logf("chain: %d validators agree on block and app hash at every height 1..%d", len(m.Validators), top)
	return out
}

// nemAckedDurable checks that every transaction a client saw committed is
// in that block on every validator, after all the restarts.
func nemAckedDurable(ctx context.Context, t *testing.T, m *networks.Manifest, hist *nemHistory) []string {
	hist.mu.Lock()
	acked := make(map[int64][]string, len(hist.acked))
	n := 0
	for k, v := range hist.acked {
		acked[k] = append([]string(nil), v...)
		n += len(v)
	}
	hist.mu.Unlock()
	var out []string
	for _, v := range m.Validators {
		rc := rpcClient(t, v.RPC)
		for hgt, hashes := range acked {
			b, err := rc.Block(ctx, &hgt)
			if err != nil {
				out = append(out, fmt.Sprintf("%s block %d: %v", v.Name, hgt, err))
				continue
			}
			have := map[string]bool{}
			for _, tx := range b.Block.Data.Txs {
				have[strings.ToUpper(fmt.Sprintf("%X", cmttypes.Tx(tx).Hash()))] = true
			}
			for _, hs := range hashes {
				if !have[strings.ToUpper(hs)] {
					out = append(out, fmt.Sprintf("tx %s acknowledged at height %d is not in %s's block %d", hs, hgt, v.Name, hgt))
				}
			}
		}
	}
	t.Logf("durability: %d acknowledged transactions in %d blocks, found on every validator: %v", n, len(acked), len(out) == 0)
	return out
}

// ---- no false verdicts ----

type falseVerdict struct {
	at          time.Time
	node, state string
	height      int64
}

// verdictWatch polls the agents' node states and records any Suspect or
// Down of a node whose agent was neither killed nor paused within
// nemesisVerdictGrace.
type verdictWatch struct {
	m    *networks.Manifest
	stop chan struct{}
	done chan struct{}

	mu         sync.Mutex
	faultSince map[string]time.Time // agent -> fault began (zero: none now)
	lastFault  map[string]time.Time // agent -> its last fault ended
	false_     []falseVerdict
	polls      int
}

func startVerdictWatch(m *networks.Manifest) *verdictWatch {
	w := &verdictWatch{m: m, stop: make(chan struct{}), done: make(chan struct{}),
		faultSince: map[string]time.Time{}, lastFault: map[string]time.Time{}}
	var cs []*client.Client
	for _, v := range m.Validators {
		if c, err := client.New(v.RPC); err == nil {
			cs = append(cs, c)
		}
	}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		i := 0
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			i++
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			nodes, err := cs[i%len(cs)].Nodes(ctx, url.Values{})
			cancel()
			if err != nil {
				continue
			}
			now := time.Now()
			w.mu.Lock()
			w.polls++
			for _, n := range nodes.Nodes {
				if n.State != "Suspect" && n.State != "Down" {
					continue
				}
				since, faulty := w.faultSince[n.ID]
				if faulty && !since.IsZero() {
					continue
				}
				if end, ok := w.lastFault[n.ID]; ok && now.Sub(end) < nemesisVerdictGrace {
					continue
				}
				w.false_ = append(w.false_, falseVerdict{at: now, node: n.ID, state: n.State, height: nodes.Height})
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *verdictWatch) agentFault(agent string, on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if on {
		w.faultSince[agent] = time.Now()
		return
	}
	w.faultSince[agent] = time.Time{}
	w.lastFault[agent] = time.Now()
}

func (w *verdictWatch) finish() []string {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	// One line per node and state is enough.
	seen := map[string]bool{}
	var out []string
	for _, f := range w.false_ {
		if key := f.node + " " + f.state; !seen[key] {
			seen[key] = true
			out = append(out, fmt.Sprintf("%s %s at height %d (%s) while its agent ran (%d polls)", f.at.Format("15:04:05.000"), f.node, f.height, f.state, w.polls))
		}
	}
	return out
}

// TestNemesisModel: the checker accepts a history the chain could give
// and refuses ones it could not (a stale read, a lost write, a wrong
// failure code), so a violation it reports is one.
func TestNemesisModel(t *testing.T) {
	w := func(c int, op string, r uint32, code uint32, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: nemInput{Op: op, Key: "k", Replicas: r}, Output: nemOutput{Known: true, Code: code}, Call: call, Return: ret}
	}
	read := func(c int, r uint32, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: nemInput{Op: "read", Key: "k"}, Output: nemOutput{Known: true, Replicas: r}, Call: call, Return: ret}
	}
	unknown := func(c int, op string, r uint32, call int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: nemInput{Op: op, Key: "k", Replicas: r}, Output: nemOutput{}, Call: call, Return: 1 << 62}
	}
	cases := []struct {
		name string
		ops  []porcupine.Operation
		ok   bool
	}{
		{"create, scale, read", []porcupine.Operation{w(0, "create", 2, 0, 0, 10), w(1, "scale", 3, 0, 11, 20), read(2, 3, 21, 30)}, true},
		{"concurrent scale and read see either", []porcupine.Operation{w(0, "create", 2, 0, 0, 10), w(1, "scale", 3, 0, 11, 30), read(2, 2, 12, 20)}, true},
		{"stale read after a completed scale", []porcupine.Operation{w(0, "create", 2, 0, 0, 10), w(1, "scale", 3, 0, 11, 20), read(2, 2, 21, 30)}, false},
		{"read of a deleted workload", []porcupine.Operation{w(0, "create", 1, 0, 0, 10), w(1, "delete", 0, 0, 11, 20), read(2, 1, 21, 30)}, false},
		{"create over another spec fails 15", []porcupine.Operation{w(0, "create", 1, 0, 0, 10), w(1, "create", 2, api.ErrWorkloadExists.Code, 11, 20), read(2, 1, 21, 30)}, true},
		{"create of the same spec is a no-op", []porcupine.Operation{w(0, "create", 1, 0, 0, 10), w(1, "create", 1, 0, 11, 20)}, true},
		{"scale of an absent workload cannot succeed", []porcupine.Operation{w(0, "scale", 2, 0, 0, 10)}, false},
		{"an unknown create may take effect later", []porcupine.Operation{unknown(0, "create", 2, 0), read(1, 0, 5, 10), read(1, 2, 20, 30)}, true},
		{"an unknown create may never take effect", []porcupine.Operation{unknown(0, "create", 2, 0), read(1, 0, 20, 30)}, true},
	}
	for _, c := range cases {
		if got := porcupine.CheckOperations(nemesisModel, c.ops); got != c.ok {
			t.Errorf("%s: linearizable %v; want %v", c.name, got, c.ok)
		}
	}
}

// TestNemesisSchedule: a seed gives one schedule; no cycle faults two
// validators (f = 1) or has a liar beside another faulty observer.
func TestNemesisSchedule(t *testing.T) {
	m := &networks.Manifest{}
	for i := range 4 {
		m.Validators = append(m.Validators, networks.Validator{Name: fmt.Sprintf("val%d", i), Observer: fmt.Sprintf("observer%d", i)})
	}
	for i := range 3 {
		m.Agents = append(m.Agents, networks.Agent{Name: fmt.Sprintf("agent%d", i)})
	}
	var valNames, obsNames []string
	for _, v := range m.Validators {
		valNames, obsNames = append(valNames, v.Name), append(obsNames, v.Observer)
	}
	a, b := nemesisSchedule(7, 50, m), nemesisSchedule(7, 50, m)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("one seed gave two schedules")
	}
	if fmt.Sprint(a) == fmt.Sprint(nemesisSchedule(8, 50, m)) {
		t.Error("seeds 7 and 8 gave the same schedule")
	}
	kinds := map[faultKind]bool{}
	for i, c := range a {
		vals, slow, liars := 0, 0, 0
		muted := map[int]bool{}
		for _, f := range c {
			if o := mutedObserver(f, valNames, obsNames); o != -1 {
				muted[o] = true
			}
			kinds[f.Kind] = true
			if isValidatorFault(f.Kind) {
				vals++
			}
			switch f.Kind {
			case faultSlowLinks:
				slow++
			case faultLyingObserver:
				liars++
			case faultPartitionHalves:
				if len(f.Side) != 2 {
					t.Errorf("cycle %d: %v: want 2 validators on one side", i, f)
				}
			case faultRing:
				if fmt.Sprint(sortedCopy(f.Side)) != "[0 1 2 3]" {
					t.Errorf("cycle %d: %v: the ring is not of the 4 validators", i, f)
				}
			}
		}
		if vals > 1 || slow > 1 || liars > 1 || len(muted) > 1 || len(c) == 0 || len(c) > 3 {
			t.Errorf("cycle %d: %v: want 1 to 3 faults, at most one on the validators, one slow-links, one liar, and one observer out of action", i, c)
		}
	}
	if len(kinds) != len(faultKinds) {
		t.Errorf("50 cycles used %d fault kinds of %d", len(kinds), len(faultKinds))
	}
}

// checkRejoinWhileValidatorPaused is the regression test of the
// nemesis's first finding (docs/nemesis.md, "Violations found"), run on
// TestNemesis's network after its checkers: an agent restarted while its
// first validator is stopped (SIGSTOP: it accepts connections and never
// answers) must rejoin through the other three. Before boundedProvider
// (client/trust.go) its light client spent every call's time on the
// stopped primary and never replaced it.
func checkRejoinWhileValidatorPaused(t *testing.T, h *healNet, links *nemLinks) {
	m := h.m
	a := m.Agents[1]
	var v networks.Validator
	for _, x := range m.Validators {
		if x.Name == links.validatorAt(a.Nodes[0]) {
			v = x
		}
	}
	if v.Name == "" {
		t.Fatalf("%s's first node %s is no validator of the manifest", a.Name, a.Nodes[0])
	}
	apid, err := nemPID(nemProcess(t, m, a.Name))
	if err != nil {
		t.Fatal(err)
	}
	vpid, err := nemPID(nemProcess(t, m, v.Name))
	if err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(apid, syscall.SIGKILL)
	waitUntil(t, 10*time.Second, a.Name+" gone", func() (bool, string) { return syscall.Kill(apid, 0) != nil, "alive" })
	if err := syscall.Kill(vpid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(vpid, syscall.SIGCONT)
	start := time.Now()
	out, err := run(t, "testnet", "start", m.Dir, "--detach", "--only", a.Name)
	if err != nil {
		t.Fatalf("%s did not rejoin while %s (its first validator) was paused: %v\n%s", a.Name, v.Name, err, out)
	}
	t.Logf("%s rejoined in %s while %s was paused", a.Name, time.Since(start).Round(100*time.Millisecond), v.Name)
	var other *client.Client
	for _, x := range m.Validators {
		if x.Name != v.Name {
			other, _ = client.New(x.RPC)
			break
		}
	}
	waitUntil(t, 60*time.Second, a.Name+" Ready through another validator", func() (bool, string) {
		var n api.NodeView
		if _, err := other.Query(context.Background(), client.NodePath(a.Name), &n); err != nil {
			return false, err.Error()
		}
		return n.State == "Ready", n.State
	})
}

func sortedCopy(xs []int) []int {
	out := append([]int(nil), xs...)
	sort.Ints(out)
	return out
}
