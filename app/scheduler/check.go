package scheduler

import (
	"sort"

	"github.com/phalanx-bft/phalanx/types"
)

// ZoneLabel is the label key that, when a node has no label of that name,
// reads the node's zone (so constraints and spread_key can name "zone").
const ZoneLabel = "zone"

// LabelValue returns the value of label key on n. "zone" falls back to the
// node's zone. n.Labels must be sorted by key (types.Label).
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

// The checks come in two kinds, after Nomad's FeasibilityChecker:
//
//   - a nodeChecker looks at what a call never changes (the node's state,
//     cordon and labels against the workload's spec); Place runs these
//     once per workload and call (readyChecker, which reads no spec, once
//     per call), and keeps the nodes that pass;
//   - a slotChecker looks at what each placement changes (capacity left,
//     the workload's counts per node and per domain); Place runs these on
//     every scan, for one task.
//
// Each returns fits or the one reason it filters the node for.
type nodeChecker interface {
	check(n *types.Node) reason
}

type slotChecker interface {
	check(s *slot) reason
}

// readyChecker: only Ready, uncordoned, undrained nodes take new tasks
// (Suspect, Down, Partitioned and Quarantined nodes do not).
type readyChecker struct{}

func (readyChecker) check(n *types.Node) reason {
	switch {
	case n.State != types.NODE_READY:
		return notReady
	case n.Draining:
		return draining
	case n.Cordoned:
		return cordoned
	}
	return fits
}

// constraintChecker: every constraint holds. "label = v" needs the label
// with value v; "label != v" holds when the label is absent too.
type constraintChecker struct {
	constraints []types.Constraint
}

func (c constraintChecker) check(n *types.Node) reason {
	for _, k := range c.constraints {
		v, ok := LabelValue(n, k.Label)
		match := ok && v == k.Value
		if (k.Op == "=") != match {
			return constraintNotMet
		}
	}
	return fits
}

// spreadLabelChecker: a workload with a spread_key runs only on nodes that
// name their domain (for "zone", a zone or a zone label).
type spreadLabelChecker struct {
	key string
}

func (c spreadLabelChecker) check(n *types.Node) reason {
	if _, ok := LabelValue(n, c.key); !ok {
		return noSpreadLabel
	}
	return fits
}

// maxPerNodeChecker: the node holds fewer than max_per_node of the
// workload's tasks.
type maxPerNodeChecker struct {
	limit uint32
}

func (c maxPerNodeChecker) check(s *slot) reason {
	if s.onNode >= c.limit {
		return maxPerNode
	}
	return fits
}

// maxPerDomainChecker: the node's domain holds fewer than max_per_domain
// of the workload's tasks.
type maxPerDomainChecker struct {
	limit uint32
	d     *domains
}

func (c maxPerDomainChecker) check(s *slot) reason {
	if c.d.count[s.domain] >= c.limit {
		return maxPerDomain
	}
	return fits
}

// maxSkewChecker: after the placement, the node's domain holds at most
// max_skew more of the workload's tasks than the emptiest eligible domain
// (doc.go defines eligible).
type maxSkewChecker struct {
	skew uint32
	d    *domains
}

func (c maxSkewChecker) check(s *slot) reason {
	if uint64(c.d.count[s.domain])+1 > uint64(c.d.min)+uint64(c.skew) {
		return maxSkew
	}
	return fits
}

// resourcesChecker: the node's capacity minus what is allocated on it
// (including this call's placements) covers the task's request, cpu first,
// then memory. (One checker for both: the scan's hottest check reads one
// entry of the call's resource table once.)
type resourcesChecker struct {
	cpuNeed, memNeed int64
	res              []nodeResources
}

func (c resourcesChecker) check(s *slot) reason {
	r := &c.res[s.node]
	switch {
	case c.cpuNeed > r.cpuCap-r.cpuAlloc:
		return insufficientCPU
	case c.memNeed > r.memCap-r.memAlloc:
		return insufficientMem
	}
	return fits
}
