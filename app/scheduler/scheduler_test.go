package scheduler

import (
	"testing"

	"github.com/phalanx-bft/phalanx/types"
)

func node(id string, mut func(n *types.Node)) *types.Node {
	n := &types.Node{Id: id, State: types.NODE_READY, Zone: "a",
		Labels:   []types.Label{{Key: "disk", Value: "ssd"}},
		Capacity: types.Resources{CpuMillis: 2000, MemoryMb: 2048}}
	if mut != nil {
		mut(n)
	}
	return n
}

func TestCheckReasons(t *testing.T) {
	spec := &types.WorkloadSpec{Resources: types.Resources{CpuMillis: 1000, MemoryMb: 1024}, MaxPerNode: 1,
		Constraints: []types.Constraint{{Label: "disk", Op: "=", Value: "ssd"}}, SpreadKey: "zone", MaxPerDomain: 1}
	req := NewRequest(spec)
	req.Count(node("busy", func(n *types.Node) { n.Zone = "z" }))
	cases := []struct {
		n    *types.Node
		want string
	}{
		{node("ok", nil), ""},
		{node("down", func(n *types.Node) { n.State = types.NODE_DOWN }), ReasonNotReady},
		{node("c", func(n *types.Node) { n.Cordoned = true }), ReasonCordoned},
		{node("d", func(n *types.Node) { n.Cordoned, n.Draining = true, true }), ReasonDraining},
		{node("hdd", func(n *types.Node) { n.Labels[0].Value = "hdd" }), ReasonConstraint},
		{node("nolabel", func(n *types.Node) { n.Labels = nil }), ReasonConstraint},
		{node("busy", nil), ReasonMaxPerNode},
		{node("samezone", func(n *types.Node) { n.Zone = "z" }), ReasonMaxPerDomain},
		{node("cpu", func(n *types.Node) { n.Allocated.CpuMillis = 1500 }), ReasonInsufficientCPU},
		{node("mem", func(n *types.Node) { n.Capacity.MemoryMb = 1000 }), ReasonInsufficientMem},
	}
	for _, c := range cases {
		if got := Check(c.n, req); got != c.want {
			t.Errorf("Check(%s) = %q; want %q", c.n.Id, got, c.want)
		}
	}
	// "!=" matches nodes without the label too.
	spec.Constraints[0].Op = "!="
	if got := Check(node("nolabel", func(n *types.Node) { n.Labels = nil }), req); got != "" {
		t.Errorf("!= on a node without the label: %q", got)
	}
}

func TestFirstFitAndFiltered(t *testing.T) {
	spec := &types.WorkloadSpec{Resources: types.Resources{CpuMillis: 3000, MemoryMb: 1}}
	nodes := []*types.Node{
		node("a", nil), node("b", func(n *types.Node) { n.Cordoned = true }), node("c", nil),
	}
	n, filtered := FirstFit(nodes, NewRequest(spec))
	if n != nil {
		t.Fatalf("placed on %s; nothing fits", n.Id)
	}
	if got, want := filtered.String(), "2 insufficient cpu, 1 node cordoned"; got != want {
		t.Errorf("filtered = %q; want %q", got, want)
	}
	nodes[2].Capacity.CpuMillis = 4000
	if n, _ := FirstFit(nodes, NewRequest(spec)); n == nil || n.Id != "c" {
		t.Errorf("FirstFit = %v; want c", n)
	}
}
