package scheduler

import "github.com/phalanx-bft/phalanx/types"

// This file holds the first-fit API that app/block.go calls until the
// reconcile pass switches to Place. It shares Place's checks and reasons
// but neither ranks nor checks max_skew.

// Request is one task to place, with the counts the spread rules need.
//
// Deprecated: use Place, which counts through Cluster.
type Request struct {
	Spec *types.WorkloadSpec
	// PerNode counts the workload's active tasks per node id.
	PerNode map[string]uint32
	// PerDomain counts them per value of Spec.SpreadKey.
	PerDomain map[string]uint32
}

// NewRequest starts a request for spec with no tasks counted.
//
// Deprecated: use Place.
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

// Check returns "" if n can take one more task of req, or the reason it
// cannot. Its order of checks (max_per_node before the spread label) is
// the one app/testdata was written against.
//
// Deprecated: use Place.
func Check(n *types.Node, req *Request) string {
	spec := req.Spec
	if r := (readyChecker{}).check(n); r != fits {
		return r.String()
	}
	if r := (constraintChecker{spec.Constraints}).check(n); r != fits {
		return r.String()
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
	res := []nodeResources{{
		cpuCap: n.Capacity.CpuMillis, cpuAlloc: n.Allocated.CpuMillis,
		memCap: n.Capacity.MemoryMb, memAlloc: n.Allocated.MemoryMb,
	}}
	return (resourcesChecker{spec.Resources.CpuMillis, spec.Resources.MemoryMb, res}).check(&slot{}).String()
}

// FirstFit returns the first node of nodes (in the caller's order) that
// can take req, or nil and why every node was filtered out.
//
// Deprecated: use Place, which ranks the feasible nodes.
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
