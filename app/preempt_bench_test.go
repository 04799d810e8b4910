package app

import (
	"fmt"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// BenchmarkPreemption measures placements per second of block time when
// preemption is in play (issue 14 §3), beside the same placements into
// free room, in one run. A cluster of N nodes (4,000 millicores each)
// holds 4 tasks of 1,000 millicores per node of priority 0, placed by
// hand.
//
//	room:    the nodes of the first half are empty (the low tasks sit on
//	         the second half, 8 per 8,000-millicore node); a workload of
//	         16 tasks of priority 10 is created and placed.
//	preempt: every node is full; the same workload is placed by
//	         preempting 16 low tasks (one per node, the first nodes by id
//	         win the ties), whose evictions and task_preempted events
//	         count in the block.
//	preempt-scan: the same, but each high task needs 2,000 millicores
//	         (two victims on any node): no search can stop early, each of
//	         the 16 looks at every node (the worst case).
//
// An op is the block that places the 16 (BeginBlock with the
// CreateWorkload, EndBlock); the workload is then deleted and the
// victims placed back, untimed. "placements/s" is 16 / the op's time.
// 16 is MaxPreemptionAttemptsPerBlock: a block preempts for at most that
// many tasks.
func BenchmarkPreemption(b *testing.B) {
	for _, nodes := range []int{1000, 5000} {
		for _, mode := range []string{"room", "preempt", "preempt-scan"} {
			b.Run(fmt.Sprintf("nodes=%d/%s", nodes, mode), func(b *testing.B) { benchPreemption(b, nodes, mode) })
		}
	}
}

func benchPreemption(b *testing.B, nodes int, mode string) {
	p := api.DefaultParams()
	p.SuspectAfterMs, p.DownAfterMs = api.MaxParamDurationMs-1, api.MaxParamDurationMs
	p.FenceTimeoutMs = 0
	e := &reconcileBench{timeMs: 10_000_000, opsPub: benchKey("ops")}
	g := &api.Genesis{Params: p, Accounts: []types.GenesisAccount{{Address: crypto.Address(e.opsPub), Roles: []types.Role{types.ROLE_OPERATOR}}}}
	s, err := NewState(testChainID, g)
	if err != nil {
		b.Fatal(err)
	}
	e.s = s
	e.beginBlock()
	for i := 0; i < nodes; i++ {
		cpu := int64(4000)
		if mode == "room" && i >= nodes/2 {
			cpu = 8000
		}
		e.deliver(b, &types.TxBody{Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
			NodeId: fmt.Sprintf("n%05d", i), PubKey: benchKey(fmt.Sprintf("n%d", i)), Zone: fmt.Sprintf("z%d", i%10),
			Capacity: types.Resources{CpuMillis: cpu, MemoryMb: 65_536}}}})
	}
	low := nodes * 4
	for w := 0; w*api.MaxReplicasPerWorkload < low; w++ {
		e.deliver(b, &types.TxBody{Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: types.WorkloadSpec{
			Name: fmt.Sprintf("low%02d", w), Command: "run", Replicas: uint32(min(api.MaxReplicasPerWorkload, low-w*api.MaxReplicasPerWorkload)),
			Resources: types.Resources{CpuMillis: 1000, MemoryMb: 64}}}}})
	}
	k := 0
	for _, name := range sortedKeys(s.workloads) {
		for _, t := range append([]*types.Task(nil), s.tasksOf(name)...) {
			i := k % nodes
			if mode == "room" {
				i = nodes/2 + k%(nodes-nodes/2)
			}
			s.placeTask(t, s.nodes[fmt.Sprintf("n%05d", i)])
			t.State = types.TASK_RUNNING
			k++
		}
	}
	s.EndBlock()
	s.TakeChanges()
	if s.pendingCount != 0 {
		b.Fatalf("%d pending after setup", s.pendingCount)
	}
	hi := types.WorkloadSpec{Name: "hi", Command: "run", Replicas: MaxPreemptionAttemptsPerBlock,
		Resources: types.Resources{CpuMillis: 1000, MemoryMb: 64}, Priority: 10}
	perTask := 1
	if mode == "preempt-scan" {
		hi.Resources.CpuMillis, perTask = 2000, 2
	}
	preempted := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.beginBlock()
		e.deliver(b, &types.TxBody{Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: hi}}})
		s.EndBlock()
		b.StopTimer()
		if p := s.LastPass(); p.Placed != MaxPreemptionAttemptsPerBlock {
			b.Fatalf("%s: placed %d in the block (%+v); want %d", mode, p.Placed, p, MaxPreemptionAttemptsPerBlock)
		}
		preempted += s.LastPass().Preempted
		s.TakeChanges()
		e.beginBlock()
		e.deliver(b, &types.TxBody{Msg: &types.TxBody_DeleteWorkload{DeleteWorkload: &types.DeleteWorkload{Name: "hi"}}})
		s.EndBlock() // the victims go back
		s.TakeChanges()
		if s.pendingCount != 0 {
			b.Fatalf("%d pending after the delete", s.pendingCount)
		}
		b.StartTimer()
	}
	b.StopTimer()
	if mode != "room" && preempted != b.N*MaxPreemptionAttemptsPerBlock*perTask {
		b.Fatalf("preempted %d over %d blocks", preempted, b.N)
	}
	b.ReportMetric(float64(MaxPreemptionAttemptsPerBlock)*float64(b.N)/b.Elapsed().Seconds(), "placements/s")
}
