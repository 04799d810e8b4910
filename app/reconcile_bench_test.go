package app

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/app/health"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// BenchmarkReconcile measures the end-of-block reconcile pass (EndBlock,
// one goroutine) in a cluster of 10,000 nodes in 10 zones and 100,000
// Running tasks (100 workloads of 1,000 replicas: a tenth spread over the
// zones with max_skew 1, a tenth needing disk=ssd), 10 tasks per node;
// default max_placements_per_block (100). Blocks are 1 ms apart, so that
// no heartbeat deadline comes due but what a case arranges.
//
//	idle:       an empty block: nothing changed.
//	idle-parked: the same with 1,000 tasks of an unplaceable workload
//	            pending (parked: the scheduler is not called).
//	node-down:  one node with 10 tasks reaches its down deadline in the
//	            block: step 1 marks it Down, step 2 admits it (its zone's
//	            eviction bucket refills in 1 ms) and evicts its 10 tasks,
//	            step 5 places them on other nodes (scheduler.Place over
//	            10,000 nodes). The node comes back between iterations
//	            (untimed), empty.
//
// ns/op is ns per block (BeginBlock + EndBlock); "cpu-ns/block" the
// process's CPU time for the same (GC included; other load on the machine
// does not inflate it); "commit-ns/block" is TakeChanges (the records to
// persist), untimed.
func BenchmarkReconcile(b *testing.B) {
	for _, mode := range []string{"idle", "idle-parked", "node-down"} {
		b.Run(mode, func(b *testing.B) { benchReconcile(b, mode) })
	}
}

const (
	reconcileBenchNodes     = 10_000
	reconcileBenchWorkloads = 100
	reconcileBenchReplicas  = 1000
)

type reconcileBench struct {
	s      *State
	timeMs int64
	opsPub []byte
}

func (e *reconcileBench) beginBlock() {
	e.timeMs++ // 1 ms apart: no heartbeat deadline comes due by itself
	e.s.BeginBlock(Block{Height: e.s.height + 1, TimeMs: e.timeMs, Hash: []byte(fmt.Sprintf("block-%d", e.s.height+1))}, nil)
}

func (e *reconcileBench) deliver(b *testing.B, msg *types.TxBody) {
	msg.ChainId = testChainID
	msg.Sequence = e.s.NextSequence(crypto.Address(e.opsPub))
	if res := e.s.DeliverTx(&api.Tx{PubKey: e.opsPub, Address: crypto.Address(e.opsPub), Body: *msg}); res.Code != 0 {
		b.Fatalf("%s: code %d: %s", api.MsgName(msg), res.Code, res.Log)
	}
}

// newReconcileBench builds the cluster. Tasks are placed round-robin by
// hand (the scheduler would take 100,000 placements to get there) and
// marked Running.
func newReconcileBench(b *testing.B) *reconcileBench {
	p := api.DefaultParams()
	p.SuspectAfterMs, p.DownAfterMs = api.MaxParamDurationMs-1, api.MaxParamDurationMs
	// Blocks are 1 ms apart: a zone's eviction bucket must refill within
	// one (one node per ms), or node-down would measure pacing, not cost.
	p.NodeEvictionRateMilli = api.MaxNodeEvictionRateMilli
	// The down node's tasks are placed in the block that evicts them, as
	// the figures in docs/scheduling.md measured: no fence (ADR 0020).
	p.FenceTimeoutMs = 0
	e := &reconcileBench{timeMs: 10_000_000, opsPub: benchKey("ops")}
	g := &api.Genesis{Params: p, Accounts: []types.GenesisAccount{{Address: crypto.Address(e.opsPub), Roles: []types.Role{types.ROLE_OPERATOR}}}}
	s, err := NewState(testChainID, g)
	if err != nil {
		b.Fatal(err)
	}
	e.s = s
	e.beginBlock()
	for i := 0; i < reconcileBenchNodes; i++ {
		disk := "hdd"
		if i%2 == 0 {
			disk = "ssd"
		}
		e.deliver(b, &types.TxBody{Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
			NodeId: fmt.Sprintf("n%05d", i), PubKey: benchKey(fmt.Sprintf("n%d", i)), Zone: fmt.Sprintf("z%d", i%10),
			Labels:   []types.Label{{Key: "disk", Value: disk}},
			Capacity: types.Resources{CpuMillis: 16_000, MemoryMb: 65_536}}}})
	}
	for w := 0; w < reconcileBenchWorkloads; w++ {
		spec := types.WorkloadSpec{Name: fmt.Sprintf("w%03d", w), Command: "run", Replicas: reconcileBenchReplicas,
			Resources: types.Resources{CpuMillis: 100 * int64(1+w%10), MemoryMb: 256}, Priority: int32(w % 3)}
		switch w % 10 {
		case 0:
			spec.SpreadKey, spec.MaxSkew = "zone", 1
		case 1:
			spec.Constraints = []types.Constraint{{Label: "disk", Op: "=", Value: "ssd"}}
		}
		e.deliver(b, &types.TxBody{Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: spec}}})
	}
	// Place by hand: task k of the whole cluster on node k mod 10,000
	// (ssd workloads on the even nodes).
	k := 0
	for w := 0; w < reconcileBenchWorkloads; w++ {
		for _, t := range append([]*types.Task(nil), s.tasksOf(fmt.Sprintf("w%03d", w))...) {
			i := k % reconcileBenchNodes
			if w%10 == 1 && i%2 == 1 {
				i--
			}
			s.placeTask(t, s.nodes[fmt.Sprintf("n%05d", i)])
			t.State = types.TASK_RUNNING
			k++
		}
	}
	s.EndBlock()
	s.TakeChanges()
	if err := s.verify(); err != nil {
		b.Fatal(err)
	}
	if s.pendingCount != 0 || len(s.tasks) != reconcileBenchWorkloads*reconcileBenchReplicas {
		b.Fatalf("%d tasks, %d pending", len(s.tasks), s.pendingCount)
	}
	return e
}

func benchReconcile(b *testing.B, mode string) {
	e := newReconcileBench(b)
	s := e.s
	if mode == "idle-parked" {
		e.beginBlock()
		e.deliver(b, &types.TxBody{Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: types.WorkloadSpec{
			Name: "huge", Command: "run", Replicas: 1000, Resources: types.Resources{CpuMillis: 32_000, MemoryMb: 1}}}}})
		s.EndBlock()
		s.TakeChanges()
		if s.workloads["huge"].Unschedulable == "" {
			b.Fatal("huge is not unschedulable")
		}
	}
	b.ReportAllocs()
	var commitNs, cpuNs int64
	evicted, placed := 0, 0
	victim := 0
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		var down *types.Node
		b.StopTimer()
		if mode == "node-down" {
			// The next node that holds 10 tasks reaches its down deadline
			// at this block.
			for down == nil || len(s.tasksByNode[down.Id]) != 10 {
				down = s.nodes[fmt.Sprintf("n%05d", victim%reconcileBenchNodes)]
				victim += 7
			}
		}
		cpu0 := cpuTimeNs()
		b.StartTimer()
		e.beginBlock()
		if down != nil {
			// As if its last heartbeat had set this deadline.
			down.SuspectAtMs, down.DownAtMs = s.clockMs, s.clockMs
			s.deadlines.Push(health.Deadline{AtMs: s.clockMs, ID: down.Id})
		}
		s.EndBlock()
		b.StopTimer()
		cpuNs += cpuTimeNs() - cpu0
		p := s.LastPass()
		evicted += p.Evicted
		placed += p.Placed
		if down != nil && (p.Evicted != 10 || p.Placed != 10 || down.State != types.NODE_DOWN) {
			b.Fatalf("node-down: %+v, node %s", p, api.NodeStateName(down.State))
		}
		start := time.Now()
		s.TakeChanges()
		commitNs += time.Since(start).Nanoseconds()
		if down != nil {
			// It comes back, empty.
			e.beginBlock()
			s.recordHeartbeat(down)
			s.EndBlock()
			s.TakeChanges()
		}
	}
	b.ReportMetric(float64(commitNs)/float64(b.N), "commit-ns/block")
	b.ReportMetric(float64(cpuNs)/float64(b.N), "cpu-ns/block")
	b.ReportMetric(float64(evicted)/float64(b.N), "evictions/block")
	b.ReportMetric(float64(placed)/float64(b.N), "placements/block")
}

// cpuTimeNs is the process's user and system CPU time.
func cpuTimeNs() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
