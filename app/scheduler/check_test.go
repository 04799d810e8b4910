package scheduler

import (
	"math"
	"testing"

	"github.com/phalanx-bft/phalanx/types"
)

func TestReadyChecker(t *testing.T) {
	cases := []struct {
		name string
		mut  func(n *types.Node)
		want reason
	}{
		{"ready", nil, fits},
		{"unspecified", func(n *types.Node) { n.State = types.NODE_STATE_UNSPECIFIED }, notReady},
		{"suspect", func(n *types.Node) { n.State = types.NODE_SUSPECT }, notReady},
		{"down", func(n *types.Node) { n.State = types.NODE_DOWN }, notReady},
		{"partitioned", func(n *types.Node) { n.State = types.NODE_PARTITIONED }, notReady},
		{"quarantined", func(n *types.Node) { n.State = types.NODE_QUARANTINED; n.Cordoned = true }, notReady},
		{"cordoned", func(n *types.Node) { n.Cordoned = true }, cordoned},
		{"draining", func(n *types.Node) { n.Draining = true }, draining},
		{"draining and cordoned", func(n *types.Node) { n.Draining, n.Cordoned = true, true }, draining},
		{"suspect and cordoned", func(n *types.Node) { n.State, n.Cordoned = types.NODE_SUSPECT, true }, notReady},
	}
	for _, c := range cases {
		if got := (readyChecker{}).check(node(c.name, c.mut)); got != c.want {
			t.Errorf("%s: %q; want %q", c.name, got, c.want)
		}
	}
}

func TestConstraintChecker(t *testing.T) {
	eq := func(l, v string) types.Constraint { return types.Constraint{Label: l, Op: "=", Value: v} }
	ne := func(l, v string) types.Constraint { return types.Constraint{Label: l, Op: "!=", Value: v} }
	cases := []struct {
		name string
		cs   []types.Constraint
		mut  func(n *types.Node)
		want reason
	}{
		{"none", nil, nil, fits},
		{"= holds", []types.Constraint{eq("disk", "ssd")}, nil, fits},
		{"= other value", []types.Constraint{eq("disk", "hdd")}, nil, constraintNotMet},
		{"= label absent", []types.Constraint{eq("gpu", "yes")}, nil, constraintNotMet},
		{"!= holds", []types.Constraint{ne("disk", "hdd")}, nil, fits},
		{"!= same value", []types.Constraint{ne("disk", "ssd")}, nil, constraintNotMet},
		{"!= label absent", []types.Constraint{ne("gpu", "yes")}, nil, fits},
		{"zone falls back to the node's zone", []types.Constraint{eq("zone", "a")}, nil, fits},
		{"a zone label wins over the zone", []types.Constraint{eq("zone", "a")},
			func(n *types.Node) { n.Labels = append(n.Labels, types.Label{Key: "zone", Value: "b"}) }, constraintNotMet},
		{"no zone at all", []types.Constraint{eq("zone", "a")}, func(n *types.Node) { n.Zone = "" }, constraintNotMet},
		{"all must hold", []types.Constraint{eq("disk", "ssd"), ne("zone", "a")}, nil, constraintNotMet},
	}
	for _, c := range cases {
		if got := (constraintChecker{c.cs}).check(node(c.name, c.mut)); got != c.want {
			t.Errorf("%s: %q; want %q", c.name, got, c.want)
		}
	}
}

func TestSpreadLabelChecker(t *testing.T) {
	cases := []struct {
		key  string
		mut  func(n *types.Node)
		want reason
	}{
		{"disk", nil, fits},
		{"rack", nil, noSpreadLabel},
		{"zone", nil, fits},
		{"zone", func(n *types.Node) { n.Zone = "" }, noSpreadLabel},
	}
	for _, c := range cases {
		if got := (spreadLabelChecker{c.key}).check(node("n", c.mut)); got != c.want {
			t.Errorf("key %s: %q; want %q", c.key, got, c.want)
		}
	}
}

func TestMaxPerNodeChecker(t *testing.T) {
	for _, c := range []struct {
		limit, onNode uint32
		want          reason
	}{{1, 0, fits}, {1, 1, maxPerNode}, {3, 2, fits}, {3, 3, maxPerNode}, {3, 7, maxPerNode}} {
		if got := (maxPerNodeChecker{c.limit}).check(&slot{onNode: c.onNode}); got != c.want {
			t.Errorf("limit %d, %d on node: %q; want %q", c.limit, c.onNode, got, c.want)
		}
	}
}

func TestMaxPerDomainChecker(t *testing.T) {
	d := &domains{count: []uint32{0, 1, 2}, eligible: []bool{true, true, true}}
	for _, c := range []struct {
		limit  uint32
		domain int32
		want   reason
	}{{1, 0, fits}, {1, 1, maxPerDomain}, {2, 1, fits}, {2, 2, maxPerDomain}} {
		if got := (maxPerDomainChecker{c.limit, d}).check(&slot{domain: c.domain}); got != c.want {
			t.Errorf("limit %d, domain %d: %q; want %q", c.limit, c.domain, got, c.want)
		}
	}
}

func TestMaxSkewChecker(t *testing.T) {
	cases := []struct {
		name     string
		count    []uint32
		eligible []bool
		skew     uint32
		domain   int32
		want     reason
	}{
		{"balanced: any domain", []uint32{1, 1, 1}, []bool{true, true, true}, 1, 0, fits},
		{"one ahead: not again", []uint32{2, 1, 1}, []bool{true, true, true}, 1, 0, maxSkew},
		{"one ahead: the others", []uint32{2, 1, 1}, []bool{true, true, true}, 1, 1, fits},
		{"skew 2", []uint32{2, 1, 1}, []bool{true, true, true}, 2, 0, fits},
		{"an empty eligible domain holds the others", []uint32{1, 1, 0}, []bool{true, true, true}, 1, 0, maxSkew},
		{"an ineligible domain does not", []uint32{1, 1, 0}, []bool{true, true, false}, 1, 0, fits},
		{"after a failure, the low domain", []uint32{3, 0}, []bool{true, true}, 1, 1, fits},
		{"after a failure, not the high one", []uint32{3, 0}, []bool{true, true}, 1, 0, maxSkew},
	}
	for _, c := range cases {
		d := &domains{count: c.count, eligible: c.eligible}
		d.updateMin()
		if got := (maxSkewChecker{c.skew, d}).check(&slot{domain: c.domain}); got != c.want {
			t.Errorf("%s: %q; want %q", c.name, got, c.want)
		}
	}
}

func TestResourceCheckers(t *testing.T) {
	cases := []struct {
		name          string
		capacity, use int64
		need          int64
		want          bool
	}{
		{"room", 2000, 500, 1000, true},
		{"exact fit", 2000, 1000, 1000, true},
		{"one over", 2000, 1001, 1000, false},
		{"over-allocated node", 2000, 3000, 1, false},
		{"zero request on a full node", 2000, 2000, 0, true},
		{"no capacity", 0, 0, 1, false},
		{"no request on a node with no capacity", 0, 0, 0, true},
		{"huge values do not overflow", math.MaxInt64, math.MaxInt64 - 5, 5, true},
	}
	for _, c := range cases {
		want := map[bool][2]reason{true: {fits, fits}, false: {insufficientCPU, insufficientMem}}[c.want]
		cpu := []nodeResources{{cpuCap: c.capacity, cpuAlloc: c.use, memCap: 1}}
		if got := (resourcesChecker{c.need, 1, cpu}).check(&slot{}); got != want[0] {
			t.Errorf("cpu %s: %q; want %q", c.name, got, want[0])
		}
		mem := []nodeResources{{cpuCap: 1, memCap: c.capacity, memAlloc: c.use}}
		if got := (resourcesChecker{1, c.need, mem}).check(&slot{}); got != want[1] {
			t.Errorf("memory %s: %q; want %q", c.name, got, want[1])
		}
	}
}

func TestResourcesCheckerOrder(t *testing.T) {
	// A node short of both reads "insufficient cpu": cpu is checked first.
	res := []nodeResources{{cpuCap: 1000, memCap: 1000}}
	if got := (resourcesChecker{2000, 2000, res}).check(&slot{}); got != insufficientCPU {
		t.Errorf("%q; want %q", got, insufficientCPU)
	}
}

func TestPerMille(t *testing.T) {
	for _, c := range []struct{ used, capacity, want int64 }{
		{0, 1000, 0}, {-5, 1000, 0}, {1, 3, 333}, {2, 3, 666}, {3, 3, 1000}, {4, 3, 1000},
		{5, 0, 1000}, {5, -1, 1000}, {1, 1001, 0},
		{math.MaxInt64 / 2, math.MaxInt64, 499}, {math.MaxInt64 - 1, math.MaxInt64, 999},
	} {
		if got := perMille(c.used, c.capacity); got != c.want {
			t.Errorf("perMille(%d, %d) = %d; want %d", c.used, c.capacity, got, c.want)
		}
	}
}

func TestReasonTexts(t *testing.T) {
	seen := map[string]bool{}
	for r := reason(1); r < numReasons; r++ {
		if r.String() == "" || seen[r.String()] {
			t.Errorf("reason %d: text %q empty or repeated", r, r.String())
		}
		seen[r.String()] = true
	}
}

func TestExplanationString(t *testing.T) {
	cases := []struct {
		e    Explanation
		want string
	}{
		{Explanation{12, Filtered{ReasonInsufficientCPU: 7, ReasonCordoned: 5}}, "0/12 nodes fit: 7 insufficient cpu, 5 node cordoned"},
		{Explanation{4, Filtered{ReasonMaxSkew: 2, ReasonCordoned: 2}}, "0/4 nodes fit: 2 max_skew exceeded, 2 node cordoned"},
		{Explanation{0, Filtered{}}, "0/0 nodes fit: no nodes"},
	}
	for _, c := range cases {
		if got := c.e.String(); got != c.want {
			t.Errorf("%q; want %q", got, c.want)
		}
	}
}

// node is a Ready node in zone a with disk=ssd and 2 cores / 2 GiB, changed by mut.
func node(id string, mut func(n *types.Node)) *types.Node {
	n := &types.Node{Id: id, State: types.NODE_READY, Zone: "a",
		Labels:   []types.Label{{Key: "disk", Value: "ssd"}},
		Capacity: types.Resources{CpuMillis: 2000, MemoryMb: 2048}}
	if mut != nil {
		mut(n)
	}
	return n
}
