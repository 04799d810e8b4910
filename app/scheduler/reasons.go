package scheduler

import (
	"fmt"
	"sort"
	"strings"
)

// Reasons a node is filtered out. They are constants: users read them in a
// pending task's reason and tests match on them. A filtered node records
// exactly one reason: that of the first check it fails, in the order of
// the pipeline (doc.go).
const (
	ReasonNotReady        = "node not ready"
	ReasonDraining        = "node draining"
	ReasonCordoned        = "node cordoned"
	ReasonConstraint      = "constraint not met"
	ReasonNoSpreadLabel   = "missing spread label"
	ReasonMaxPerNode      = "max_per_node reached"
	ReasonMaxPerDomain    = "max_per_domain reached"
	ReasonMaxSkew         = "max_skew exceeded"
	ReasonInsufficientCPU = "insufficient cpu"
	ReasonInsufficientMem = "insufficient memory"
)

// reason is the compact form of a Reason constant inside a pass: counting
// into an array indexed by reason costs no map operation per node.
type reason uint8

const (
	fits reason = iota
	notReady
	draining
	cordoned
	constraintNotMet
	noSpreadLabel
	maxPerNode
	maxPerDomain
	maxSkew
	insufficientCPU
	insufficientMem
	numReasons
)

var reasonText = [numReasons]string{
	fits:             "",
	notReady:         ReasonNotReady,
	draining:         ReasonDraining,
	cordoned:         ReasonCordoned,
	constraintNotMet: ReasonConstraint,
	noSpreadLabel:    ReasonNoSpreadLabel,
	maxPerNode:       ReasonMaxPerNode,
	maxPerDomain:     ReasonMaxPerDomain,
	maxSkew:          ReasonMaxSkew,
	insufficientCPU:  ReasonInsufficientCPU,
	insufficientMem:  ReasonInsufficientMem,
}

func (r reason) String() string { return reasonText[r] }

// reasonCounts counts filtered nodes by reason during a pass.
type reasonCounts [numReasons]int

func (c *reasonCounts) add(o *reasonCounts) {
	for i := range c {
		c[i] += o[i]
	}
}

// filtered converts the counts to the exported form.
func (c *reasonCounts) filtered() Filtered {
	f := Filtered{}
	for r, n := range c {
		if n > 0 && reason(r) != fits {
			f[reasonText[r]] = n
		}
	}
	return f
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

// Explanation says why a task fits nowhere: of Nodes nodes considered, how
// many each reason filtered out (every node is counted under exactly one
// reason, so the counts add up to Nodes).
type Explanation struct {
	Nodes    int
	Filtered Filtered
}

// String reads like kubectl describe's scheduling event:
// "0/12 nodes fit: 7 insufficient cpu, 5 node cordoned".
func (e Explanation) String() string {
	return fmt.Sprintf("0/%d nodes fit: %s", e.Nodes, e.Filtered)
}
