package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/internal/testseed"
	"github.com/phalanx-bft/phalanx/types"
)

var seedFlag = flag.Int64("seed", 0, "seed of the determinism simulation (0: a fixed seed and one from the clock)")

// TestDeterminism feeds two fresh States the same random blocks of valid
// and invalid transactions and requires byte-identical results, changes
// and query answers at every height; every 10 heights the second is
// replaced by a State rebuilt with LoadState from the accumulated
// records, which must answer every query the same and then go on exactly
// as the live one (a validator restarted from its records).
func TestDeterminism(t *testing.T) {
	// Seed 6 is the regression seed of a restarted validator's divergence
	// (state.go, rebuildIndexes: the undecided reports; docs/nemesis.md).
	seeds := []int64{1, 6, time.Now().UnixNano()}
	if *seedFlag != 0 {
		seeds = []int64{*seedFlag}
	}
	heights := 150
	if testing.Short() {
		heights = 40
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			testseed.Log(t, "./app", seed)
			simulate(t, rand.New(rand.NewSource(seed)), heights)
		})
	}
}

// window is a report window for the next block: mostly the open one (the
// last block's, or the one before), now and then a closed one.
func (m *sim) window() uint64 {
	cur := uint64(m.a.blockTimeMs / m.a.params.ReportWindowMs)
	switch m.rng.Intn(10) {
	case 0:
		return uint64(m.rng.Intn(5))
	case 1, 2:
		return cur - 1
	}
	return cur
}

// sim generates transactions from the view of state a.
type sim struct {
	rng    *rand.Rand
	a      *State
	admins []string
	ops    []string
	obs    []string
	nodes  []string // node ids; key name = id
	others []string
	hbSeq  map[string]uint64
}

// simulate returns one line per height, "HEIGHT SHA256", the digest of
// everything state a produced up to it (events, results, changes) in
// JSON: equal lines on two machines mean equal state transitions
// (TestReplayAcrossArchitectures).
func simulate(t *testing.T, rng *rand.Rand, heights int) []string {
	g := &api.Genesis{Params: api.DefaultParams()}
	g.Params.MaxPlacementsPerBlock = uint32(1 + rng.Intn(6))
	g.Params.PhiWindow = 4
	g.Params.OpenRegistration = rng.Intn(2) == 0
	add := func(name string, roles ...types.Role) {
		g.Accounts = append(g.Accounts, types.GenesisAccount{Address: testAddr(name), Roles: roles})
	}
	add("admin", types.ROLE_ADMIN)
	add("op1", types.ROLE_OPERATOR)
	add("op2", types.ROLE_OPERATOR, types.ROLE_ADMIN)
	add("obs1", types.ROLE_OBSERVER)
	add("obs2", types.ROLE_OBSERVER)
	add("obs3", types.ROLE_OBSERVER)
	add("val1", types.ROLE_OBSERVER)
	vals := []ValidatorUpdate{{PubKey: testPub("val1"), Power: 10}, {PubKey: testPub("val2"), Power: 10}}

	newState := func() *State {
		s, err := NewState(testChainID, g)
		if err != nil {
			t.Fatal(err)
		}
		s.SetValidators(vals)
		return s
	}
	a, b := newState(), newState()
	records := map[string][]byte{}
	apply := func(ch []KV) {
		for _, kv := range ch {
			if kv.Value == nil {
				delete(records, string(kv.Key))
			} else {
				records[string(kv.Key)] = kv.Value
			}
		}
	}
	ca, cb := a.TakeChanges(), b.TakeChanges()
	if !reflect.DeepEqual(ca, cb) {
		t.Fatal("genesis changes differ")
	}
	apply(ca)

	sm := &sim{rng: rng, a: a, admins: []string{"admin", "op2"}, ops: []string{"op1", "op2"},
		obs: []string{"obs1", "obs2", "obs3", "val1"}, others: []string{"x1", "x2"}, hbSeq: map[string]uint64{}}
	for i := 0; i < 8; i++ {
		sm.nodes = append(sm.nodes, fmt.Sprintf("n%d", i))
	}
	codes := map[string]int{}
	digest := sha256.New()
	var digests []string
	record := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("digest: %v", err)
		}
		digest.Write(b)
	}
	timeMs := int64(1_000_000)
	for h := int64(1); h <= int64(heights); h++ {
		timeMs += 500 + rng.Int63n(3000)
		block := Block{Height: h, TimeMs: timeMs, Hash: []byte(fmt.Sprintf("hash-%d", h))}
		var evidence []Misbehavior
		if rng.Intn(60) == 0 {
			evidence = append(evidence, Misbehavior{Type: "duplicate_vote", ValidatorAddress: testAddr("val1"), Height: h - 1})
		}
		ea, eb := a.BeginBlock(block, evidence), b.BeginBlock(block, evidence)
		if !reflect.DeepEqual(ea, eb) {
			t.Fatalf("height %d: BeginBlock events differ", h)
		}
		record(ea)
		n := rng.Intn(14)
		for i := 0; i < n; i++ {
			raw := sm.randomTx()
			txA, errA := api.DecodeTx(raw, testChainID)
			txB, errB := api.DecodeTx(raw, testChainID)
			if api.CodeOf(errA) != api.CodeOf(errB) {
				t.Fatalf("height %d: DecodeTx differs", h)
			}
			if errA != nil {
				codes[fmt.Sprintf("decode/%d", api.CodeOf(errA))]++
				continue
			}
			ra, rb := a.DeliverTx(txA), b.DeliverTx(txB)
			record(ra)
			codes[fmt.Sprintf("%s/%d", api.MsgName(&txA.Body), ra.Code)]++
			if !reflect.DeepEqual(ra, rb) {
				t.Fatalf("height %d: results differ:\n%+v\n%+v", h, ra, rb)
			}
		}
		resA, resB := a.EndBlock(), b.EndBlock()
		if !reflect.DeepEqual(resA, resB) {
			t.Fatalf("height %d: EndBlock differs", h)
		}
		ca, cb := a.TakeChanges(), b.TakeChanges()
		if !reflect.DeepEqual(ca, cb) {
			t.Fatalf("height %d: changes differ: %s", h, diffKVs(ca, cb))
		}
		record(resA)
		record(ca)
		digests = append(digests, fmt.Sprintf("%d %x", h, digest.Sum(nil)))
		apply(ca)
		for _, s := range []*State{a, b} {
			if err := s.verify(); err != nil {
				t.Fatalf("height %d: %v", h, err)
			}
		}
		compareQueries(t, fmt.Sprintf("height %d, a vs b", h), a, b)
		if h%10 == 0 || h == int64(heights) {
			var kvs []KV
			for _, k := range sortedKeys(records) {
				kvs = append(kvs, KV{Key: []byte(k), Value: records[k]})
			}
			loaded, err := LoadState(testChainID, h, kvs)
			if err != nil {
				t.Fatalf("height %d: LoadState: %v", h, err)
			}
			compareQueries(t, fmt.Sprintf("height %d, live vs loaded", h), a, loaded)
			// The loaded state must go on exactly like the live one: b
			// becomes it, and every later block compares it with a (a
			// validator restarted from its records follows the chain
			// with the others).
			if got, want := loaded.NextSequence(testAddr("op1")), a.NextSequence(testAddr("op1")); got != want {
				t.Fatalf("height %d: loaded NextSequence %d, live %d", h, got, want)
			}
			b = loaded
		}
	}
	var summary api.SummaryView
	mustUnmarshal(t, a, "/summary", &summary)
	t.Logf("after %d heights: %d nodes, %d workloads, %d tasks (%v), %d records",
		heights, summary.Nodes, summary.Workloads, summary.Tasks, summary.TasksByState, len(records))
	var hist []string
	for _, k := range sortedKeys(codes) {
		hist = append(hist, fmt.Sprintf("%s:%d", k, codes[k]))
	}
	t.Logf("results (message/code:count): %v", hist)
	return digests
}

func mustUnmarshal(t *testing.T, s *State, path string, v any) {
	b, err := s.Query(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonUnmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func compareQueries(t *testing.T, what string, x, y *State) {
	t.Helper()
	paths := []string{"/nodes", "/workloads", "/tasks", "/accounts", "/observers", "/validators", "/params", "/summary"}
	for _, id := range x.nodeIDs {
		paths = append(paths, "/nodes/"+id, "/tasks?node="+id)
	}
	for _, name := range sortedKeys(x.workloads) {
		paths = append(paths, "/workloads/"+name, "/tasks?workload="+name)
	}
	for _, k := range sortedKeys(x.accounts) {
		paths = append(paths, "/accounts/"+k)
	}
	for _, p := range paths {
		bx, errx := x.Query(p)
		by, erry := y.Query(p)
		if api.CodeOf(errx) != api.CodeOf(erry) || !bytes.Equal(bx, by) {
			t.Fatalf("%s: query %s differs:\n%s\n%s", what, p, bx, by)
		}
	}
}

func (m *sim) pick(list []string) string { return list[m.rng.Intn(len(list))] }

// randomTx builds a transaction: mostly well-formed and authorized, with
// some wrong signers, sequences, specs and corrupted bytes.
func (m *sim) randomTx() []byte {
	r := m.rng
	body := &types.TxBody{ChainId: testChainID}
	signer := m.pick(m.ops)
	workloads := []string{"web", "db", "batch", "api"}
	switch k := r.Intn(100); {
	case k < 12:
		id := m.pick(m.nodes)
		if m.a.params.OpenRegistration && r.Intn(2) == 0 {
			signer = id
		}
		var labels []types.Label
		if r.Intn(2) == 0 {
			labels = append(labels, types.Label{Key: "disk", Value: m.pick([]string{"ssd", "hdd"})})
		}
		body.Msg = &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
			NodeId: id, PubKey: testPub(id), Zone: m.pick([]string{"a", "b", "c"}), Labels: labels,
			Capacity: types.Resources{CpuMillis: 1000 * (1 + r.Int63n(8)), MemoryMb: 1024 * (1 + r.Int63n(8))}}}
	case k < 45:
		id := m.pick(m.nodes)
		signer = id
		m.hbSeq[id] += uint64(r.Intn(3)) // 0: a stale seq now and then
		hb := &types.Heartbeat{NodeId: id, Seq: m.hbSeq[id] + 1, Usage: types.Resources{CpuMillis: r.Int63n(1000)}}
		for _, t := range m.a.tasksOn(id) {
			if r.Intn(4) == 0 {
				continue
			}
			gen := t.Generation
			if r.Intn(10) == 0 {
				gen-- // stale
			}
			st := []types.TaskState{types.TASK_RUNNING, types.TASK_RUNNING, types.TASK_FAILED, types.TASK_COMPLETED, types.TASK_ASSIGNED}[r.Intn(5)]
			rep := types.TaskReport{TaskId: t.Id, Generation: gen, State: st, Restarts: uint32(r.Intn(3))}
			if r.Intn(3) == 0 {
				rep.Checkpoint = []byte(fmt.Sprintf("ck-%d", r.Intn(100)))
			}
			hb.Tasks = append(hb.Tasks, rep)
		}
		if r.Intn(8) == 0 {
			hb.Tasks = append(hb.Tasks, types.TaskReport{TaskId: "ghost/0", Generation: 1, State: types.TASK_RUNNING})
		}
		// Generations fenced on the node (stop before start): reported
		// stopped when the heartbeat's seq is even, decided without
		// drawing from r so that the seeds keep their streams.
		if hb.Seq%2 == 0 {
			reported := map[string]uint64{}
			for _, rep := range hb.Tasks {
				reported[rep.TaskId] = rep.Generation
			}
			for _, tid := range m.a.taskIDs() {
				if t := m.a.tasks[tid]; t.FenceNode == id {
					if g, ok := reported[tid]; !ok || g != t.FenceGeneration {
						hb.Stopped = append(hb.Stopped, types.StoppedTask{TaskId: tid, Generation: t.FenceGeneration})
					}
				}
			}
		}
		body.Msg = &types.TxBody_Heartbeat{Heartbeat: hb}
	case k < 60:
		spec := types.WorkloadSpec{
			Name: m.pick(workloads), Command: "run", Replicas: uint32(r.Intn(6)),
			Resources:  types.Resources{CpuMillis: 250 * (1 + r.Int63n(6)), MemoryMb: 256 * (1 + r.Int63n(4))},
			MaxPerNode: uint32(r.Intn(3)), Priority: int32(r.Intn(3)),
		}
		if r.Intn(3) == 0 {
			spec.Constraints = []types.Constraint{{Label: "disk", Op: m.pick([]string{"=", "!="}), Value: "ssd"}}
		}
		if r.Intn(3) == 0 {
			spec.SpreadKey, spec.MaxPerDomain = "zone", uint32(1+r.Intn(2))
		}
		// The first workload name is a batch (issue 14), decided without
		// drawing from r so that the seeds keep their streams; a batch of
		// 0 completions is sent as a service, and refused (code 37) when
		// the batch exists.
		if spec.Name == workloads[0] && spec.Replicas > 0 {
			spec.Type, spec.Parallelism = api.TypeBatch, spec.Replicas/2
		}
		// The second is a system workload (issue 14), likewise: one task
		// per eligible node, so no replicas and no spread rules.
		if spec.Name == workloads[1] {
			spec.Type, spec.Replicas = api.TypeSystem, 0
			spec.MaxPerNode, spec.SpreadKey, spec.MaxPerDomain = 0, "", 0
		}
		// The third and fourth have disconnect policies (issue 14 §5):
		// keep_original restores, keep_replacement with its own fence.
		switch spec.Name {
		case workloads[2]:
			spec.Disconnect = types.Disconnect{LostAfterMs: 5000, Reconcile: api.KeepOriginal}
		case workloads[3]:
			spec.Disconnect = types.Disconnect{LostAfterMs: 3000}
		}
		if r.Intn(2) == 0 {
			body.Msg = &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: spec}}
		} else {
			body.Msg = &types.TxBody_UpdateWorkload{UpdateWorkload: &types.UpdateWorkload{Spec: spec}}
		}
	case k < 65:
		body.Msg = &types.TxBody_DeleteWorkload{DeleteWorkload: &types.DeleteWorkload{Name: m.pick(workloads)}}
	case k < 75:
		id := m.pick(m.nodes)
		switch r.Intn(8) {
		case 0, 1:
			body.Msg = &types.TxBody_CordonNode{CordonNode: &types.CordonNode{NodeId: id}}
		case 2, 3:
			body.Msg = &types.TxBody_UncordonNode{UncordonNode: &types.UncordonNode{NodeId: id}}
		case 4:
			body.Msg = &types.TxBody_RemoveNode{RemoveNode: &types.RemoveNode{NodeId: id, Force: r.Intn(2) == 0}}
		default:
			body.Msg = &types.TxBody_DrainNode{DrainNode: &types.DrainNode{NodeId: id, Reason: "sim"}}
		}
	case k < 82:
		signer = m.pick(m.admins)
		who := testAddr(m.pick(m.others))
		if r.Intn(5) == 0 {
			who = testAddr(m.pick(m.ops))
		}
		role := types.Role(1 + r.Intn(4))
		if r.Intn(6) == 0 {
			body.Msg = &types.TxBody_UnjailObserver{UnjailObserver: &types.UnjailObserver{Address: testAddr(m.pick(m.obs))}}
		} else if r.Intn(2) == 0 {
			body.Msg = &types.TxBody_GrantRole{GrantRole: &types.GrantRole{Address: who, Role: role}}
		} else {
			body.Msg = &types.TxBody_RevokeRole{RevokeRole: &types.RevokeRole{Address: who, Role: role}}
		}
	case k < 85:
		signer = m.pick(m.admins)
		p := m.a.params
		p.MaxPlacementsPerBlock = uint32(1 + r.Intn(6))
		p.OpenRegistration = r.Intn(2) == 0
		p.PhiWindow = uint32(1 + r.Intn(5))
		body.Msg = &types.TxBody_UpdateParams{UpdateParams: &types.UpdateParams{Params: p}}
	case k < 88:
		signer = m.pick(m.admins)
		body.Msg = &types.TxBody_SetValidatorPower{SetValidatorPower: &types.SetValidatorPower{
			PubKey: testPub(m.pick([]string{"val1", "val2", "val3"})), Power: r.Int63n(3) * 5}}
	case k < 90:
		signer = m.pick(m.obs)
		att := &types.Attest{Window: m.window()}
		for _, id := range sortedUnique([]string{m.pick(m.nodes), m.pick(m.nodes)}) {
			if r.Intn(3) == 0 {
				att.Withdraw = append(att.Withdraw, id)
			} else {
				att.Up = append(att.Up, id)
			}
		}
		body.Msg = &types.TxBody_Attest{Attest: att}
	case k < 96:
		// Reports for the open windows, each about 1 to 3 nodes, naming
		// some of a reachable node's tasks failing (and now and then a
		// task placed elsewhere): quorums, verdicts, strikes, scoring and
		// equivocation all follow from them.
		signer = m.pick(m.obs)
		rep := &types.HealthReport{Window: m.window()}
		for _, id := range sortedUnique([]string{m.pick(m.nodes), m.pick(m.nodes), m.pick(m.nodes)}[:1+r.Intn(3)]) {
			o := types.Observation{NodeId: id, Reachable: r.Intn(3) != 0, RttMs: uint32(r.Intn(20))}
			if o.Reachable {
				for _, t := range m.a.tasksOn(id) {
					if r.Intn(3) == 0 {
						o.FailingTaskIds = append(o.FailingTaskIds, t.Id)
					}
				}
				if r.Intn(10) == 0 {
					o.FailingTaskIds = append(o.FailingTaskIds, "web/0")
				}
			}
			rep.Observations = append(rep.Observations, o)
		}
		body.Msg = &types.TxBody_HealthReport{HealthReport: rep}
	default:
		signer = m.pick(m.others)
		who := m.pick(m.nodes)
		mk := func(cpu int64) []byte {
			return encodeTx(testKey(who), &types.TxBody{ChainId: testChainID, Msg: &types.TxBody_Heartbeat{Heartbeat: &types.Heartbeat{
				NodeId: who, Seq: 99, Usage: types.Resources{CpuMillis: cpu}}}})
		}
		body.Msg = &types.TxBody_ReportEquivocation{ReportEquivocation: &types.ReportEquivocation{TxA: mk(1), TxB: mk(int64(1 + r.Intn(12)/11))}}
	}
	// Faults: a wrong signer, a wrong sequence, an expired timeout, a bit
	// flipped in the encoded tx.
	if r.Intn(12) == 0 {
		signer = m.pick(append(append([]string{}, m.others...), m.obs...))
	}
	body.Sequence = m.a.NextSequence(testAddr(signer))
	if r.Intn(15) == 0 {
		body.Sequence += uint64(r.Intn(3)) - 1
	}
	if r.Intn(15) == 0 {
		body.TimeoutHeight = m.a.height - 1 + int64(r.Intn(3))
	}
	raw := encodeTx(testKey(signer), body)
	if r.Intn(40) == 0 {
		raw[r.Intn(len(raw))] ^= byte(1 << r.Intn(8))
	}
	return raw
}

// diffKVs names the records two change lists disagree on.
func diffKVs(x, y []KV) string {
	mx, my := map[string][]byte{}, map[string][]byte{}
	for _, kv := range x {
		mx[string(kv.Key)] = kv.Value
	}
	for _, kv := range y {
		my[string(kv.Key)] = kv.Value
	}
	var out []string
	for _, k := range sortedKeys(mx) {
		if v, ok := my[k]; !ok {
			out = append(out, fmt.Sprintf("%s only in the first (%q)", k, mx[k]))
		} else if !bytes.Equal(v, mx[k]) {
			out = append(out, fmt.Sprintf("%s: %q vs %q", k, mx[k], v))
		}
	}
	for _, k := range sortedKeys(my) {
		if _, ok := mx[k]; !ok {
			out = append(out, fmt.Sprintf("%s only in the second (%q)", k, my[k]))
		}
	}
	return strings.Join(out, "; ")
}
