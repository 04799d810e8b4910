package scheduler

import (
	"fmt"
	"sort"
	"strings"

	"github.com/phalanx-bft/phalanx/types"
)

// Reasons a node is filtered out. They are constants: users and tests
// match on them.
const (
	ReasonNotReady        = "node not ready"
	ReasonCordoned        = "node cordoned"
	ReasonDraining        = "node draining"
	ReasonConstraint      = "constraint not met"
	ReasonMaxPerNode      = "max_per_node reached"
	ReasonNoSpreadLabel   = "missing spread label"
	ReasonMaxPerDomain    = "max_per_domain reached"
	ReasonInsufficientCPU = "insufficient cpu"
	ReasonInsufficientMem = "insufficient memory"
)

// ZoneLabel is the label key that, when a node has no label of that name,
// reads the node's zone (so constraints and spread_key can name "zone").
const ZoneLabel = "zone"

// Request is one task to place, with the counts the spread rules need.
type Request struct {
	Spec *types.WorkloadSpec
	// PerNode counts the workload's active tasks per node id.
	PerNode map[string]uint32
	// PerDomain counts them per value of Spec.SpreadKey.
	PerDomain map[string]uint32
}

// NewRequest starts a request for spec with no tasks counted.
func NewRequest(spec *types.WorkloadSpec) *Request {
	return &Request{Spec: spec, PerNode: map[string]uint32{}, PerDomain: map[string]uint32{}}
}

// Count records one active task of the workload on n.
func (r *Request) Count(n *types.Node) {
	r.PerNode[n.Id]++
	if r.Spec.SpreadKey != "" {
		if v, ok := LabelValue(n, r.Spec.SpreadKey); ok {
			r.PerDomain[v]++
		}
	}
}

// LabelValue returns the value of label key on n. "zone" falls back to the
// node's zone.
func LabelValue(n *types.Node, key string) (string, bool) {
	i := sort.Search(len(n.Labels), func(i int) bool { return n.Labels[i].Key >= key })
	if i < len(n.Labels) && n.Labels[i].Key == key {
		return n.Labels[i].Value, true
	}
	if key == ZoneLabel && n.Zone != "" {
		return n.Zone, true
	}
	return "", false
}

// Check returns "" if n can take one more task of req, or the reason it
// cannot.
func Check(n *types.Node, req *Request) string {
	spec := req.Spec
	switch {
	case n.State != types.NODE_READY:
		return ReasonNotReady
	case n.Draining:
		return ReasonDraining
	case n.Cordoned:
		return ReasonCordoned
	}
	for _, c := range spec.Constraints {
		v, ok := LabelValue(n, c.Label)
		match := ok && v == c.Value
		if (c.Op == "=") != match {
			return ReasonConstraint
		}
	}
	if spec.MaxPerNode > 0 && req.PerNode[n.Id] >= spec.MaxPerNode {
		return ReasonMaxPerNode
	}
	if spec.SpreadKey != "" {
		v, ok := LabelValue(n, spec.SpreadKey)
		if !ok {
			return ReasonNoSpreadLabel
		}
		if spec.MaxPerDomain > 0 && req.PerDomain[v] >= spec.MaxPerDomain {
			return ReasonMaxPerDomain
		}
	}
	if n.Allocated.CpuMillis+spec.Resources.CpuMillis > n.Capacity.CpuMillis {
		return ReasonInsufficientCPU
	}
	if n.Allocated.MemoryMb+spec.Resources.MemoryMb > n.Capacity.MemoryMb {
		return ReasonInsufficientMem
	}
	return ""
}

// Filtered counts the nodes a pass filtered out, by reason.
type Filtered map[string]int

// String lists the reasons, most frequent first, then by name:
// "2 insufficient cpu, 1 node cordoned". An empty pass reads "no nodes".
func (f Filtered) String() string {
	if len(f) == 0 {
		return "no nodes"
	}
	reasons := make([]string, 0, len(f))
	for r := range f {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if f[reasons[i]] != f[reasons[j]] {
			return f[reasons[i]] > f[reasons[j]]
		}
		return reasons[i] < reasons[j]
	})
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%d %s", f[r], r)
	}
	return strings.Join(parts, ", ")
}

// FirstFit returns the first node of nodes (in the caller's order) that
// can take req, or nil and why every node was filtered out.
func FirstFit(nodes []*types.Node, req *Request) (*types.Node, Filtered) {
	filtered := Filtered{}
	for _, n := range nodes {
		if reason := Check(n, req); reason != "" {
			filtered[reason]++
			continue
		}
		return n, nil
	}
	return nil, filtered
}
