package app

import (
	"bytes"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/app/scheduler"
	"github.com/phalanx-bft/phalanx/internal/testseed"
	"github.com/phalanx-bft/phalanx/types"
)

// TestReconcileProperties is a seeded simulation of the reconcile pass
// (DESIGN §6) over random clusters (zones, labels, capacities), workloads
// (constraints, spread with max_per_domain and max_skew, max_per_node,
// priorities, restart policies, max_unavailable) and failures: nodes that
// crash and come back, tasks that fail or complete, agents that report
// stale generations, drains, cordons, scale and template changes, deletes,
// and changes of max_placements_per_block. After every block it checks:
//
//   - capacity is never exceeded, and allocations are the sum of the
//     active tasks' resources;
//   - max_per_node and max_per_domain always hold (the simulation never
//     changes a workload's placement rules, which govern placements only),
//     and every domain that received a placement is within max_skew of the
//     emptiest eligible domain;
//   - every pending task is placed once a node can take it and the rate
//     limit allows: when the block's placements stayed below
//     max_placements_per_block and the scheduler examined every request
//     (or had nothing to examine: every pending workload parked), no
//     pending task fits on any node, by a naive reading of the rules;
//   - a rolling update takes down at most (Running tasks − min_available)
//     Running tasks in a block;
//   - generations only grow, for every task id, across deletes and
//     re-creations;
//   - eviction pacing (ADR 0012): a block evicts at most
//     max_evictions_per_block tasks from failed and draining nodes; a zone
//     admits at most one failed node per block, and none while no zone has
//     a Ready node; and no eviction is lost: after a last stretch of
//     blocks without crashes or commands, every failed node still holding
//     tasks is in a zone whose state stops its evictions (by a naive
//     reading of the zone rules);
//   - two instances fed the same blocks return the same results and events
//     and hand back byte-identical TakeChanges; the second is rebuilt from
//     its records (LoadState) every few heights and goes on identically.
func TestReconcileProperties(t *testing.T) {
	seeds := []int64{1, 2, 3, 4, time.Now().UnixNano()}
	if *seedFlag != 0 {
		seeds = []int64{*seedFlag}
	}
	heights := 500
	if testing.Short() {
		heights = 150
	}
	total := map[string]int{}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			testseed.Log(t, "./app", seed)
			for k, v := range simulateReconcile(t, rand.New(rand.NewSource(seed)), heights) {
				total[k] += v
			}
		})
	}
	if *seedFlag != 0 || t.Failed() || testing.Short() {
		return // one seed, or -short's shorter runs, need not reach every path
	}
	// Over the seeds, the simulation must reach every path, or it proves
	// less than it seems.
	for _, what := range []string{"placed", "evicted/node_down", "evicted/drain", "evicted/rolling_update", "evicted/max_restarts",
		"restart-in-place", "rolling-running-replaced", "task_stop", "unschedulable", "complete-pass-checked",
		"eviction_deferred", "eviction-cap-reached", "zone_status", "admitted-while-others-wait", "evicted/node_ineligible",
		"drain-held-to-min-available", "preempted"} {
		if total[what] == 0 {
			t.Errorf("the simulation never produced %q", what)
		}
	}
}

type rsNode struct {
	id       string
	alive    bool
	nextHbMs int64
	hbSeq    uint64
	ran      map[string]uint64 // task -> the generation this agent last ran
}

type rsSim struct {
	t       *testing.T
	rng     *rand.Rand
	a       *State
	nodes   []*rsNode
	fate    map[string]int  // "task/gen" -> 0 runs, 1 fails, 2 completes
	crashy  map[string]bool // workloads whose tasks fail often
	lastGen map[string]uint64
	stats   map[string]int
	txs     [][]byte
	seqUsed map[string]uint64
	acked   map[string]bool // "task/gen@node" reported stopped in this block's heartbeats
}

func (m *rsSim) add(signer string, body *types.TxBody) {
	body.ChainId = testChainID
	body.Sequence = m.a.NextSequence(testAddr(signer)) + m.seqUsed[signer]
	m.seqUsed[signer]++
	m.txs = append(m.txs, encodeTx(testKey(signer), body))
}

func simulateReconcile(t *testing.T, rng *rand.Rand, heights int) map[string]int {
	params := api.DefaultParams()
	params.MaxPlacementsPerBlock = uint32(1 + rng.Intn(8))
	params.BackoffBaseMs, params.BackoffMaxMs = 500, 4000
	randomPacing(rng, &params)
	g := &api.Genesis{Params: params, Accounts: []types.GenesisAccount{
		{Address: testAddr("ops"), Roles: []types.Role{types.ROLE_OPERATOR}},
		{Address: testAddr("admin"), Roles: []types.Role{types.ROLE_ADMIN}},
	}}
	a, err := NewState(testChainID, g)
	if err != nil {
		t.Fatal(err)
	}
	store := newRecordStore(t)
	persist, load := store.persist, store.load
	persist(a.TakeChanges())
	b := load(0)

	m := &rsSim{t: t, rng: rng, a: a, fate: map[string]int{}, crashy: map[string]bool{}, lastGen: map[string]uint64{}, stats: map[string]int{}}
	zones := 2 + rng.Intn(3)
	nodeCount := 6 + rng.Intn(11)
	const startMs = 1_000_000
	for i := 0; i < nodeCount; i++ {
		m.nodes = append(m.nodes, &rsNode{id: fmt.Sprintf("n%02d", i), alive: true, nextHbMs: startMs + int64(rng.Intn(2000)), ran: map[string]uint64{}})
	}
	t.Logf("%d nodes in %d zones, max_placements_per_block %d, %d heights; pacing: max_evictions_per_block %d, rates %d/%d, threshold %d, large zone %d",
		nodeCount, zones, params.MaxPlacementsPerBlock, heights, params.MaxEvictionsPerBlock, params.NodeEvictionRateMilli,
		params.SecondaryNodeEvictionRateMilli, params.UnhealthyZoneThresholdMilli, params.LargeZoneSizeThreshold)

	// After the heights, a stretch of blocks with heartbeats only: every
	// eviction the zones allow must have happened by its end.
	const settle = 250
	timeMs := int64(startMs)
	for h := int64(1); h <= int64(heights+settle); h++ {
		timeMs += 800 + rng.Int63n(401)
		m.txs, m.seqUsed = nil, map[string]uint64{}
		if h == 1 {
			for i, n := range m.nodes {
				var labels []types.Label
				if rng.Intn(3) > 0 {
					labels = append(labels, types.Label{Key: "disk", Value: []string{"ssd", "hdd"}[rng.Intn(2)]})
				}
				m.add("ops", &types.TxBody{Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
					NodeId: n.id, PubKey: testPub(n.id), Zone: fmt.Sprintf("z%d", i%zones), Labels: labels,
					Capacity: types.Resources{CpuMillis: 1000 * (2 + rng.Int63n(7)), MemoryMb: 1024 * (2 + rng.Int63n(7))}}}})
			}
		}
		// The fences at the start of the block (stop before start,
		// fence.go): none may be lifted in it early, without its node's
		// report that the old generation stopped.
		type fenceAt struct {
			node  string
			gen   uint64
			until int64
		}
		fencedBefore := map[string]fenceAt{}
		for _, id := range a.taskIDs() {
			if tk := a.tasks[id]; tk.FenceNode != "" {
				fencedBefore[id] = fenceAt{tk.FenceNode, tk.FenceGeneration, tk.FenceUntilMs}
			}
		}
		// And the fences removed tasks left: a task created again under
		// such an id in this block must wait for it too.
		for id, rf := range a.removedFences {
			fencedBefore[id] = fenceAt{rf.Node, rf.Generation, rf.UntilMs}
		}
		m.acked = map[string]bool{}
		if h > 1 {
			m.heartbeats(timeMs)
		}
		if h > 1 && h <= int64(heights) {
			m.operate(h)
		}

		block := Block{Height: h, TimeMs: timeMs, Hash: []byte(fmt.Sprintf("block-%d", h))}
		if ea, eb := a.BeginBlock(block, nil), b.BeginBlock(block, nil); !reflect.DeepEqual(ea, eb) {
			t.Fatalf("height %d: BeginBlock events differ", h)
		}
		for _, raw := range m.txs {
			txA, errA := api.DecodeTx(raw, testChainID)
			txB, _ := api.DecodeTx(raw, testChainID)
			if errA != nil {
				t.Fatalf("height %d: DecodeTx: %v", h, errA)
			}
			ra, rb := a.DeliverTx(txA), b.DeliverTx(txB)
			if !reflect.DeepEqual(ra, rb) {
				t.Fatalf("height %d: results differ:\n%+v\n%+v", h, ra, rb)
			}
			m.stats[fmt.Sprintf("%s/%d", api.MsgName(&txA.Body), ra.Code)]++
			for _, e := range ra.Events {
				if e.Type == api.EventTaskStop {
					m.stats["task_stop"]++
				}
			}
		}
		before := m.runningBefore()
		admitted := map[string]bool{}
		for _, id := range a.nodeIDs {
			admitted[id] = a.nodes[id].EvictAdmitted
		}
		resA, resB := a.EndBlock(), b.EndBlock()
		if !reflect.DeepEqual(resA, resB) {
			t.Fatalf("height %d: EndBlock differs:\n%+v\n%+v", h, resA.Events, resB.Events)
		}
		// Preemption: only a strictly lower priority is preempted, and its
		// preemptor is placed on that node in the same block.
		placedOn := map[string]string{}
		for _, e := range resA.Events {
			if e.Type == api.EventTaskPlaced {
				placedOn[attr(e, "task")] = attr(e, "node")
			}
		}
		for _, e := range resA.Events {
			if e.Type != api.EventTaskPreempted {
				continue
			}
			m.stats["preempted"]++
			var p, by int
			fmt.Sscan(attr(e, "priority"), &p)
			fmt.Sscan(attr(e, "by_priority"), &by)
			if p >= by || placedOn[attr(e, "by")] != attr(e, "node") {
				t.Fatalf("height %d: %s (priority %d) preempted on %s by %s (priority %d), placed on %q", h, attr(e, "task"), p, attr(e, "node"), attr(e, "by"), by, placedOn[attr(e, "by")])
			}
		}
		for _, e := range resA.Events {
			f, ok := fencedBefore[attr(e, "task")]
			if e.Type != api.EventTaskPlaced || !ok {
				continue
			}
			switch {
			case m.acked[fmt.Sprintf("%s/%d@%s", attr(e, "task"), f.gen, f.node)]:
				m.stats["fence-lifted-by-report"]++
			case f.until <= timeMs:
				m.stats["fence-ran-out"]++
			case attr(e, "node") == f.node && attr(e, "adopts") == fmt.Sprint(f.gen):
				// disconnect.reconcile keep_original: back on the node the
				// fenced generation runs on, which it adopts.
				if w := a.workloads[strings.SplitN(attr(e, "task"), "/", 2)[0]]; w == nil || w.Spec.Disconnect.Reconcile != api.KeepOriginal {
					t.Fatalf("height %d: %s restored to %s (adopts %d) without keep_original", h, attr(e, "task"), f.node, f.gen)
				}
				m.stats["restored-keep-original"]++
			default:
				t.Fatalf("height %d: %s placed while generation %d on %s was fenced until %d, with no report that it stopped",
					h, attr(e, "task"), f.gen, f.node, f.until)
			}
		}
		ca, cb := a.TakeChanges(), b.TakeChanges()
		if len(ca) != len(cb) {
			t.Fatalf("height %d: %d changes vs %d", h, len(ca), len(cb))
		}
		for i := range ca {
			if !bytes.Equal(ca[i].Key, cb[i].Key) || !bytes.Equal(ca[i].Value, cb[i].Value) {
				t.Fatalf("height %d: change %q differs between the instances", h, ca[i].Key)
			}
		}
		persist(ca)
		if h%20 == 0 {
			b = load(h)
		}
		if err := a.verify(); err != nil {
			t.Fatalf("height %d: %v", h, err)
		}
		m.check(h, resA.Events, before)
		m.checkEvictions(h, resA.Events, admitted)
	}
	m.checkNoEvictionLost()
	var hist []string
	for _, k := range sortedKeys(m.stats) {
		hist = append(hist, fmt.Sprintf("%s:%d", k, m.stats[k]))
	}
	t.Logf("counts: %s", strings.Join(hist, " "))
	return m.stats
}

// heartbeats: live agents heartbeat every 2 s and report what the chain
// placed on their node (Running, or Failed/Completed by fate), plus, now
// and then, a generation they ran before (which must be fenced).
func (m *rsSim) heartbeats(timeMs int64) {
	for _, n := range m.nodes {
		if !n.alive || timeMs < n.nextHbMs || m.a.nodes[n.id] == nil {
			continue
		}
		n.nextHbMs = timeMs + 2000
		n.hbSeq++
		hb := &types.Heartbeat{NodeId: n.id, Seq: n.hbSeq}
		placed := map[string]bool{}
		for _, t := range m.a.tasksOn(n.id) {
			if !taskActive(t) {
				continue
			}
			placed[t.Id] = true
			key := fmt.Sprintf("%s/%d", t.Id, t.Generation)
			fate, seen := m.fate[key]
			if !seen {
				fate, failPct := 0, 10
				if m.crashy[t.Workload] {
					failPct = 60
				}
				switch r := m.rng.Intn(100); {
				case r < failPct:
					fate = 1
				case r < failPct+3:
					fate = 2
				}
				m.fate[key] = fate
			}
			r := types.TaskReport{TaskId: t.Id, Generation: t.Generation, State: types.TASK_RUNNING}
			switch {
			case t.State == types.TASK_FAILED || fate == 1 && m.rng.Intn(2) == 0:
				r.State, r.ExitCode = types.TASK_FAILED, 1
			case fate == 2:
				r.State = types.TASK_COMPLETED
			}
			if m.rng.Intn(3) == 0 {
				r.Checkpoint = []byte(fmt.Sprintf("ck-%d", m.rng.Intn(1000)))
			}
			hb.Tasks = append(hb.Tasks, r)
			n.ran[t.Id] = t.Generation
		}
		// A generation no longer placed here still runs (reported: it
		// must be fenced), or the agent stopped it and says so (its
		// replacement may start).
		for _, id := range sortedKeys(n.ran) {
			if placed[id] {
				continue
			}
			if m.rng.Intn(2) == 0 {
				hb.Tasks = append(hb.Tasks, types.TaskReport{TaskId: id, Generation: n.ran[id], State: types.TASK_RUNNING})
			} else {
				hb.Stopped = append(hb.Stopped, types.StoppedTask{TaskId: id, Generation: n.ran[id]})
				m.acked[fmt.Sprintf("%s/%d@%s", id, n.ran[id], n.id)] = true
				delete(n.ran, id)
			}
		}
		m.add(n.id, &types.TxBody{Msg: &types.TxBody_Heartbeat{Heartbeat: hb}})
	}
}

var rsWorkloads = []string{"api", "batch", "db", "etl", "web", "zk", "daemon"}

func (m *rsSim) randomSpec(name string) types.WorkloadSpec {
	r := m.rng
	spec := types.WorkloadSpec{
		Name: name, Command: "run", Replicas: uint32(1 + r.Intn(8)),
		Resources:  types.Resources{CpuMillis: 250 * (1 + r.Int63n(8)), MemoryMb: 128 * (1 + r.Int63n(8))},
		MaxPerNode: uint32(r.Intn(4)), Priority: int32(r.Intn(4)), MaxUnavailable: uint32(r.Intn(4)),
		RestartPolicy: types.RestartPolicy{MaxRestarts: uint32(r.Intn(4))},
	}
	if r.Intn(3) == 0 {
		spec.RestartPolicy.BackoffBaseMs, spec.RestartPolicy.BackoffMaxMs = 1000, 3000
	}
	if r.Intn(4) == 0 {
		spec.Constraints = []types.Constraint{{Label: "disk", Op: []string{"=", "!="}[r.Intn(2)], Value: "ssd"}}
	}
	if r.Intn(2) == 0 {
		spec.SpreadKey = "zone"
		spec.MaxPerDomain = uint32(r.Intn(4))
		spec.MaxSkew = uint32(r.Intn(3))
	}
	if r.Intn(4) == 0 {
		spec.Rank = api.RankSpread
	}
	if r.Intn(3) == 0 { // a disconnect policy (issue 14 §5)
		spec.Disconnect = types.Disconnect{LostAfterMs: 2000 + 1000*r.Int63n(10), Reconcile: []string{"", api.KeepOriginal}[r.Intn(2)]}
	}
	if name == "daemon" { // a system workload: one task per eligible node
		spec.Disconnect = types.Disconnect{}
		spec.Type, spec.Replicas = api.TypeSystem, 0
		spec.MaxPerNode, spec.SpreadKey, spec.MaxPerDomain, spec.MaxSkew = 0, "", 0, 0
	}
	return spec
}

// operate: crashes and recoveries, and the operator's commands.
func (m *rsSim) operate(h int64) {
	r := m.rng
	for _, n := range m.nodes {
		switch {
		case n.alive && r.Intn(150) == 0:
			n.alive = false
		case !n.alive && r.Intn(40) == 0:
			n.alive = true
		}
	}
	// Now and then a whole zone goes dark (its nodes come back one by one),
	// more rarely every node: eviction pacing's zone rules.
	switch k := r.Intn(1000); {
	case k < 8:
		zone := m.a.nodes[m.nodes[r.Intn(len(m.nodes))].id].Zone
		for _, n := range m.nodes {
			if m.a.nodes[n.id].Zone == zone {
				n.alive = false
			}
		}
	case k < 9:
		for _, n := range m.nodes {
			n.alive = false
		}
	}
	if r.Intn(3) > 0 {
		return
	}
	name := rsWorkloads[r.Intn(len(rsWorkloads))]
	w := m.a.workloads[name]
	node := m.nodes[r.Intn(len(m.nodes))].id
	switch k := r.Intn(100); {
	case k < 25 && w == nil:
		spec := m.randomSpec(name)
		m.crashy[name] = r.Intn(3) == 0
		m.add("ops", &types.TxBody{Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: spec}}})
	case k < 50 && w != nil:
		// Template or replicas; placement rules stay.
		spec := w.Spec
		switch r.Intn(3) {
		case 0:
			spec.Command = fmt.Sprintf("run-%d", h)
		case 1:
			spec.Resources.CpuMillis = 250 * (1 + r.Int63n(8))
		default:
			if spec.Type != api.TypeSystem {
				spec.Replicas = uint32(r.Intn(9))
			}
		}
		spec.MaxUnavailable = uint32(r.Intn(4))
		m.add("ops", &types.TxBody{Msg: &types.TxBody_UpdateWorkload{UpdateWorkload: &types.UpdateWorkload{Spec: spec}}})
	case k < 58 && w != nil:
		m.add("ops", &types.TxBody{Msg: &types.TxBody_DeleteWorkload{DeleteWorkload: &types.DeleteWorkload{Name: name}}})
	case k < 68:
		// A deadline of 0 (at once), 5 or 10 s, from the height: no draw
		// from r, so that the seeds keep their streams.
		m.add("ops", &types.TxBody{Msg: &types.TxBody_DrainNode{DrainNode: &types.DrainNode{NodeId: node, DeadlineMs: h % 3 * 5000}}})
	case k < 76:
		m.add("ops", &types.TxBody{Msg: &types.TxBody_CordonNode{CordonNode: &types.CordonNode{NodeId: node}}})
	case k < 95:
		m.add("ops", &types.TxBody{Msg: &types.TxBody_UncordonNode{UncordonNode: &types.UncordonNode{NodeId: node}}})
	case k < 100:
		p := m.a.params
		p.MaxPlacementsPerBlock = uint32(1 + r.Intn(8))
		if r.Intn(2) == 0 {
			randomPacing(r, &p)
		}
		m.add("admin", &types.TxBody{Msg: &types.TxBody_UpdateParams{UpdateParams: &types.UpdateParams{Params: p}}})
	}
}

// runningBefore returns the Running tasks of the rolling workloads before
// the end of the block.
func (m *rsSim) runningBefore() map[string]bool {
	out := map[string]bool{}
	for _, name := range sortedKeys(m.a.rollouts) {
		for _, t := range m.a.tasksOf(name) {
			if t.State == types.TASK_RUNNING {
				out[t.Id] = true
			}
		}
	}
	return out
}

func attr(e Event, key string) string {
	for _, a := range e.Attributes {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

func (m *rsSim) check(h int64, events []Event, runningBefore map[string]bool) {
	t, s := m.t, m.a
	// Events: placements, evictions by reason, restarts.
	for _, e := range events {
		switch e.Type {
		case api.EventTaskPlaced:
			id := attr(e, "task")
			// A scheduler placement resets the restart count.
			if task := s.tasks[id]; task != nil && task.Restarts > 0 {
				m.stats["restart-in-place"]++
			} else {
				m.stats["placed"]++
			}
		case api.EventTaskEvicted:
			m.stats["evicted/"+attr(e, "reason")]++
		case api.EventWorkload:
			if attr(e, "action") == api.ActionUnschedulable {
				m.stats["unschedulable"]++
			}
		}
	}
	// Generations only grow.
	for _, id := range sortedKeys(s.tasks) {
		task := s.tasks[id]
		if last, ok := m.lastGen[id]; ok && task.Generation < last {
			t.Fatalf("height %d: task %s generation %d after %d", h, id, task.Generation, last)
		}
		m.lastGen[id] = task.Generation
	}
	// Capacity.
	for _, id := range s.nodeIDs {
		n := s.nodes[id]
		if n.Allocated.CpuMillis > n.Capacity.CpuMillis || n.Allocated.MemoryMb > n.Capacity.MemoryMb {
			t.Fatalf("height %d: node %s over capacity: %+v of %+v", h, id, n.Allocated, n.Capacity)
		}
	}
	// Placement rules.
	placedIn := map[string]map[string]bool{} // workload -> domains that received a placement
	for _, e := range events {
		if e.Type == api.EventTaskPlaced {
			task := s.tasks[attr(e, "task")]
			if task == nil || task.Restarts > 0 {
				continue // a restart in place changes no count
			}
			spec := s.workloads[task.Workload].Spec
			if spec.SpreadKey != "" {
				d, _ := scheduler.LabelValue(s.nodes[attr(e, "node")], spec.SpreadKey)
				if placedIn[task.Workload] == nil {
					placedIn[task.Workload] = map[string]bool{}
				}
				placedIn[task.Workload][d] = true
			}
		}
	}
	for _, name := range sortedKeys(s.workloads) {
		spec := s.workloads[name].Spec
		onNode, inDomain := m.counts(name)
		for _, id := range sortedKeys(onNode) {
			if spec.MaxPerNode > 0 && onNode[id] > spec.MaxPerNode {
				t.Fatalf("height %d: %s has %d tasks on %s; max_per_node %d", h, name, onNode[id], id, spec.MaxPerNode)
			}
		}
		for _, d := range sortedKeys(inDomain) {
			if spec.MaxPerDomain > 0 && inDomain[d] > spec.MaxPerDomain {
				t.Fatalf("height %d: %s has %d tasks in %s; max_per_domain %d", h, name, inDomain[d], d, spec.MaxPerDomain)
			}
		}
		if spec.MaxSkew > 0 && placedIn[name] != nil {
			min, ok := m.minEligible(name, inDomain)
			for _, d := range sortedKeys(placedIn[name]) {
				if ok && inDomain[d] > min+spec.MaxSkew {
					t.Fatalf("height %d: %s placed in %s, which holds %d; the emptiest eligible domain %d, max_skew %d", h, name, d, inDomain[d], min, spec.MaxSkew)
				}
			}
		}
	}
	// Rolling updates and drains before their deadline keep
	// min_available: the Running tasks of a service a block's replacements
	// and such drains took down are at most Running − min_available.
	running, replaced := map[string]int{}, map[string]int{}
	for _, id := range sortedKeys(runningBefore) {
		name, _, _ := strings.Cut(id, "/")
		running[name]++
	}
	for _, e := range events {
		id := attr(e, "task")
		if e.Type != api.EventTaskEvicted || !runningBefore[id] {
			continue
		}
		name, _, _ := strings.Cut(id, "/")
		switch attr(e, "reason") {
		case api.ReasonRollingUpdate:
			replaced[name]++
		case api.ReasonDrain:
			if n := s.nodes[attr(e, "node")]; n != nil && n.DrainDeadlineMs > s.blockTimeMs && s.workloads[name] != nil && s.workloads[name].Spec.Type == "" {
				replaced[name]++
				m.stats["drain-held-to-min-available"]++
			}
		}
	}
	for _, name := range sortedKeys(replaced) {
		if w := s.workloads[name]; w != nil && replaced[name] > max(0, running[name]-s.minAvailable(w)) {
			t.Fatalf("height %d: the rolling update of %s replaced %d Running tasks of %d; min_available %d", h, name, replaced[name], running[name], s.minAvailable(w))
		}
		m.stats["rolling-running-replaced"] += replaced[name]
	}
	// Every pending task is placed once it fits and the limit allows.
	p := s.LastPass()
	// (A preemption frees room after the scheduler's call: what fits there
	// now waits for the next block.)
	complete := !p.PlaceRan || p.Placed < int(s.params.MaxPlacementsPerBlock) && p.Examined == p.Requests && !p.QueueCut && p.Preempted == 0
	if s.pendingCount > 0 && complete {
		m.stats["complete-pass-checked"]++
		for _, name := range sortedKeys(s.pending) {
			if len(s.unfenced(name, s.pending[name])) == 0 {
				continue // its tasks wait for their old generations to stop
			}
			if w := s.workloads[name]; w.Spec.Type == api.TypeSystem {
				// Pinned: each task fits on its own node or nowhere.
				for _, task := range s.unfenced(name, s.pending[name]) {
					if n := s.nodes[task.PinNode]; n != nil && m.fits(name, n) == "" {
						t.Fatalf("height %d: system task %s (reason %q) fits on its node %s, and the pass (%+v) placed nothing more", h, task.Id, task.Reason, n.Id, p)
					}
				}
				continue
			}
			for _, id := range s.nodeIDs {
				if why := m.fits(name, s.nodes[id]); why == "" {
					t.Fatalf("height %d: %d pending tasks of %s (reason %q) fit on %s, and the pass (%+v) placed nothing more",
						h, len(s.pending[name]), name, s.pending[name][0].Reason, id, p)
				}
			}
		}
	}
}

// counts returns the workload's active tasks per node and per domain.
func (m *rsSim) counts(name string) (map[string]uint32, map[string]uint32) {
	s := m.a
	spec := s.workloads[name].Spec
	onNode, inDomain := map[string]uint32{}, map[string]uint32{}
	for _, t := range s.tasksOf(name) {
		if !taskActive(t) {
			continue
		}
		onNode[t.Node]++
		if spec.SpreadKey != "" {
			if d, ok := scheduler.LabelValue(s.nodes[t.Node], spec.SpreadKey); ok {
				inDomain[d]++
			}
		}
	}
	return onNode, inDomain
}

// schedulable: a node the workload may run on at all.
func (m *rsSim) schedulable(spec *types.WorkloadSpec, n *types.Node) bool {
	if n.State != types.NODE_READY || n.Cordoned || n.Draining {
		return false
	}
	for _, c := range spec.Constraints {
		v, ok := scheduler.LabelValue(n, c.Label)
		if (c.Op == "=") != (ok && v == c.Value) {
			return false
		}
	}
	if spec.SpreadKey != "" {
		if _, ok := scheduler.LabelValue(n, spec.SpreadKey); !ok {
			return false
		}
	}
	return true
}

func (m *rsSim) minEligible(name string, inDomain map[string]uint32) (uint32, bool) {
	s := m.a
	spec := &s.workloads[name].Spec
	first, min := true, uint32(0)
	for _, id := range s.nodeIDs {
		n := s.nodes[id]
		if !m.schedulable(spec, n) {
			continue
		}
		d, _ := scheduler.LabelValue(n, spec.SpreadKey)
		if first || inDomain[d] < min {
			min, first = inDomain[d], false
		}
	}
	return min, !first
}

// fits is a naive reading of the placement rules: why one more task of
// the workload cannot go on n, or "".
func (m *rsSim) fits(name string, n *types.Node) string {
	s := m.a
	spec := &s.workloads[name].Spec
	if !m.schedulable(spec, n) {
		return "unschedulable"
	}
	onNode, inDomain := m.counts(name)
	if spec.MaxPerNode > 0 && onNode[n.Id] >= spec.MaxPerNode {
		return "max_per_node"
	}
	if spec.SpreadKey != "" {
		d, _ := scheduler.LabelValue(n, spec.SpreadKey)
		if spec.MaxPerDomain > 0 && inDomain[d] >= spec.MaxPerDomain {
			return "max_per_domain"
		}
		if min, ok := m.minEligible(name, inDomain); spec.MaxSkew > 0 && ok && inDomain[d]+1 > min+spec.MaxSkew {
			return "max_skew"
		}
	}
	if n.Allocated.CpuMillis+spec.Resources.CpuMillis > n.Capacity.CpuMillis || n.Allocated.MemoryMb+spec.Resources.MemoryMb > n.Capacity.MemoryMb {
		return "resources"
	}
	return ""
}

// randomPacing draws eviction pacing parameters: small caps, rates from
// one node per 10 s to unpaced, small zone thresholds (the simulated
// zones have 2 to 8 nodes).
func randomPacing(r *rand.Rand, p *types.Params) {
	p.MaxEvictionsPerBlock = uint32(1 + r.Intn(6))
	p.NodeEvictionRateMilli = []uint32{100, 500, 1000, api.MaxNodeEvictionRateMilli}[r.Intn(4)]
	p.SecondaryNodeEvictionRateMilli = []uint32{0, 100, p.NodeEvictionRateMilli}[r.Intn(3)]
	p.UnhealthyZoneThresholdMilli = uint32(300 + r.Intn(701))
	p.LargeZoneSizeThreshold = uint32(r.Intn(8))
}

// naiveZones reads the zones' states from the nodes: Full (no node
// Ready), Partial (more than 2 not Ready, at least the threshold), Normal;
// and whether every zone is Full.
func (m *rsSim) naiveZones() (map[string]string, map[string]int, bool) {
	s := m.a
	nodes, down := map[string]int{}, map[string]int{}
	for _, id := range s.nodeIDs {
		n := s.nodes[id]
		nodes[n.Zone]++
		if n.State != types.NODE_READY {
			down[n.Zone]++
		}
	}
	state, dark := map[string]string{}, len(nodes) > 0
	for _, z := range sortedKeys(nodes) {
		switch {
		case down[z] == nodes[z]:
			state[z] = api.ZoneFullDisruption
		case down[z] > 2 && down[z]*1000 >= int(s.params.UnhealthyZoneThresholdMilli)*nodes[z]:
			state[z] = api.ZonePartialDisruption
		default:
			state[z] = api.ZoneNormal
		}
		dark = dark && state[z] == api.ZoneFullDisruption
	}
	return state, nodes, dark
}

// checkEvictions: the cap on a block's evictions from failed and draining
// nodes, one failed node admitted per zone and block at most, no failed
// node's task evicted while every zone is dark.
func (m *rsSim) checkEvictions(h int64, events []Event, admittedBefore map[string]bool) {
	t, s := m.t, m.a
	evicted := 0
	for _, e := range events {
		switch e.Type {
		case api.EventTaskEvicted:
			switch attr(e, "reason") {
			case ReasonNodeDown, ReasonNodeQuarantined, ReasonNodePartitioned, api.ReasonDrain:
				evicted++
			}
		case api.EventEvictionDeferred:
			m.stats["eviction_deferred"]++
		case api.EventZoneStatus:
			m.stats["zone_status"]++
		}
	}
	if evicted > int(s.params.MaxEvictionsPerBlock) {
		t.Fatalf("height %d: %d tasks evicted from failed or draining nodes; max_evictions_per_block %d", h, evicted, s.params.MaxEvictionsPerBlock)
	}
	if evicted == int(s.params.MaxEvictionsPerBlock) && s.LastPass().EvictBacklog > 0 {
		m.stats["eviction-cap-reached"]++
	}
	// A failed node whose tasks were evicted in this block and that was
	// not admitted before was admitted in it (it may have left the backlog
	// since, its tasks all gone).
	_, _, dark := m.naiveZones()
	newly := map[string]bool{}
	for _, e := range events {
		id := attr(e, "node")
		if e.Type != api.EventTaskEvicted || newly[id] {
			continue
		}
		switch attr(e, "reason") {
		case ReasonNodeDown, ReasonNodeQuarantined, ReasonNodePartitioned:
		default:
			continue
		}
		n := s.nodes[id]
		if dark && !n.Draining {
			t.Fatalf("height %d: task %s evicted from failed node %s while every zone is dark", h, attr(e, "task"), id)
		}
		if !n.Draining {
			newly[id] = true
		}
	}
	perZone := map[string]int{}
	for _, id := range sortedKeys(newly) {
		n := s.nodes[id]
		if admittedBefore[id] {
			continue // admitted in an earlier block
		}
		perZone[n.Zone]++
		if perZone[n.Zone] > 1 {
			t.Fatalf("height %d: zone %s admitted %d failed nodes in one block", h, n.Zone, perZone[n.Zone])
		}
		if dark {
			t.Fatalf("height %d: node %s admitted while every zone is dark", h, id)
		}
		for _, other := range s.nodeIDs {
			if o := s.nodes[other]; o.Zone == n.Zone && o.EvictSinceMs != 0 && !o.EvictAdmitted {
				m.stats["admitted-while-others-wait"]++
				break
			}
		}
	}
}

// checkNoEvictionLost: after the settling blocks, a node that calls for
// eviction and still holds active tasks is a failed node (not draining)
// in a zone whose state stops evictions: every zone dark, or partial
// disruption at a rate of 0.
func (m *rsSim) checkNoEvictionLost() {
	t, s := m.t, m.a
	state, nodes, dark := m.naiveZones()
	for _, id := range s.nodeIDs {
		n := s.nodes[id]
		reason, calls := s.evictionReason(n)
		if !calls || !s.hasEvictable(n, s.tasksOn(id)) {
			continue
		}
		stopped := dark || state[n.Zone] == api.ZonePartialDisruption &&
			(nodes[n.Zone] <= int(s.params.LargeZoneSizeThreshold) || s.params.SecondaryNodeEvictionRateMilli == 0)
		if n.Draining || !stopped {
			t.Fatalf("after settling: node %s (%s, zone %s %s, %d nodes, draining %v) still holds active tasks; eviction %+v",
				id, reason, n.Zone, state[n.Zone], nodes[n.Zone], n.Draining, api.NodeRecordView(n).Eviction)
		}
		m.stats["eviction-stopped-by-zone"]++
	}
}
