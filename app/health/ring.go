package health

import "github.com/phalanx-bft/phalanx/types"

// PushInterval records one heartbeat inter-arrival time in the node's ring
// of at most window entries (params.phi_window). When the window shrank
// since the ring was filled, the ring keeps the most recent window entries.
func PushInterval(n *types.Node, intervalMs int64, window uint32) {
	if window == 0 {
		return
	}
	w := int(window)
	if len(n.IntervalsMs) > w {
		n.IntervalsMs = Intervals(n)[len(n.IntervalsMs)-w:]
		n.RingNext = 0
	}
	if len(n.IntervalsMs) < w {
		// Not full yet: entries are in arrival order; RingNext stays 0
		// until the ring wraps.
		if n.RingNext != 0 {
			n.IntervalsMs = Intervals(n)
			n.RingNext = 0
		}
		n.IntervalsMs = append(n.IntervalsMs, intervalMs)
		if len(n.IntervalsMs) == w {
			n.RingNext = 0
		}
		return
	}
	i := int(n.RingNext) % w
	n.IntervalsMs[i] = intervalMs
	n.RingNext = uint32((i + 1) % w)
}

// Intervals returns the ring's entries oldest first, in a new slice.
func Intervals(n *types.Node) []int64 {
	k := len(n.IntervalsMs)
	out := make([]int64, 0, k)
	if k == 0 {
		return out
	}
	start := int(n.RingNext) % k
	out = append(out, n.IntervalsMs[start:]...)
	return append(out, n.IntervalsMs[:start]...)
}
