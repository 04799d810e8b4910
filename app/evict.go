package app

import (
	"fmt"
	"sort"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// Eviction pacing: step 2 of the reconcile pass (ADR 0012,
// docs/scheduling.md "Containment"). After Kubernetes' node lifecycle
// controller (ComputeZoneState, HandleDisruption), in integers and block
// time:
//
//   - a node is *not ready* when its state is not Ready (Suspect, Down,
//     Partitioned, Quarantined); cordons and drains do not matter;
//   - a zone is FullDisruption when none of its nodes is ready,
//     PartialDisruption when more than 2 of its nodes are not ready and
//     they are at least unhealthy_zone_threshold_milli thousandths of
//     them, Normal otherwise;
//   - a zone admits failed nodes (Down, Quarantined, Partitioned under
//     partition_policy evict) from a token bucket of one node, refilled
//     at node_eviction_rate_milli thousandths of a node per second of
//     block time when Normal or FullDisruption; when PartialDisruption, at
//     secondary_node_eviction_rate_milli if the zone has more than
//     large_zone_size_threshold nodes, else not at all; and no failed
//     node's tasks go, in any zone, admitted or not, while every zone is
//     FullDisruption (the control plane is then more likely cut off from
//     the nodes than all of them lost);
//   - when every zone stops being FullDisruption, failed nodes wait
//     down_after_ms more (BlockInfo.evictions_resume_at_ms), so that nodes
//     cut off together with the control plane can report before their
//     tasks move (Kubernetes gives every node a fresh grace period then);
//   - a draining node is admitted at once: an operator's decision is not
//     paced by zone;
//   - an admitted node's active tasks are evicted in task id order, at
//     most max_evictions_per_block per block over all nodes; nodes go in
//     (evict_since_ms, node id) order, the rest wait for the next block.
//
// A zone's bucket starts full, so one node lost, in any zone, has its
// tasks evicted (and placed elsewhere) in the block it is lost.
//
// What decides is in records: the backlog is the nodes whose
// evict_since_ms is set, with evict_admitted and evict_deferred
// (types.Node); the buckets that are not full are BlockInfo.zone_buckets,
// the hold after every zone was dark BlockInfo.evictions_resume_at_ms.
// The zones' node counts and states are derived from the node records
// (rebuilt by LoadState): the state each zone had at the last pass is what
// the end of the last block left, and a restarted validator computes it
// from the same records.

// zoneBucketMicro is one node's worth of a zone's eviction tokens
// (millionths of a node), and a bucket's capacity: one node of burst, as
// Kubernetes' eviction rate limiter.
const zoneBucketMicro = 1_000_000

// zoneHealth counts a zone's nodes (derived from the node records).
type zoneHealth struct {
	nodes, notReady int
	// state as of the last pass (or LoadState): what decides the rate at
	// which the zone's bucket refilled since.
	state string
}

// evictionPacing is step 2's state in memory: indexes derived from the
// records (LoadState rebuilds them) and the block's marks.
type evictionPacing struct {
	zones     map[string]*zoneHealth
	fullZones int // zones whose counts say FullDisruption
	// allDark: every zone was FullDisruption at the last pass.
	allDark bool
	// dirty: zones whose counts changed in this block.
	dirty map[string]struct{}
	// backlog: the nodes whose evict_since_ms is set.
	backlog map[string]*types.Node
	// buckets: BlockInfo.zone_buckets, sorted by zone; a zone not listed
	// has a full bucket.
	buckets []types.ZoneBucket
	// resumeAtMs: BlockInfo.evictions_resume_at_ms.
	resumeAtMs int64
}

func newEvictionPacing() evictionPacing {
	return evictionPacing{zones: map[string]*zoneHealth{}, dirty: map[string]struct{}{}, backlog: map[string]*types.Node{}}
}

// notReady: a node that counts against its zone's health.
func notReady(st types.NodeState) bool { return st != types.NODE_READY }

// zoneNodeAdded counts a newly registered node in its zone.
func (s *State) zoneNodeAdded(n *types.Node) {
	p := &s.pacing
	z := p.zones[n.Zone]
	if z == nil {
		z = &zoneHealth{state: api.ZoneNormal}
		p.zones[n.Zone] = z
	}
	before := z.full()
	z.nodes++
	if notReady(n.State) {
		z.notReady++
	}
	p.countFull(before, z.full())
	p.dirty[n.Zone] = struct{}{}
}

// zoneNodeRemoved stops counting a removed node (RemoveNode) in its zone,
// after its tasks were evicted and it left the backlog. A zone left
// without nodes is forgotten, with its bucket: were a node registered in
// it again, it would start as a new zone (Normal, full bucket). The zone
// stays marked, so that the next pass recomputes whether every zone is
// dark.
func (s *State) zoneNodeRemoved(n *types.Node) {
	p := &s.pacing
	z := p.zones[n.Zone]
	before := z.full()
	z.nodes--
	if notReady(n.State) {
		z.notReady--
	}
	p.countFull(before, z.full())
	p.dirty[n.Zone] = struct{}{}
	if z.nodes == 0 {
		delete(p.zones, n.Zone)
		if i, ok := s.bucket(n.Zone); ok {
			p.buckets = append(p.buckets[:i], p.buckets[i+1:]...)
		}
	}
}

// zoneNodeMoved counts a node's state change in its zone.
func (s *State) zoneNodeMoved(n *types.Node, from, to types.NodeState) {
	if notReady(from) == notReady(to) {
		return
	}
	p := &s.pacing
	z := p.zones[n.Zone]
	before := z.full()
	if notReady(to) {
		z.notReady++
	} else {
		z.notReady--
	}
	p.countFull(before, z.full())
	p.dirty[n.Zone] = struct{}{}
}

func (z *zoneHealth) full() bool { return z.nodes > 0 && z.notReady == z.nodes }

func (p *evictionPacing) countFull(before, after bool) {
	switch {
	case after && !before:
		p.fullZones++
	case before && !after:
		p.fullZones--
	}
}

// zoneStateOf computes a zone's state from its counts (ComputeZoneState).
func (s *State) zoneStateOf(z *zoneHealth) string {
	switch {
	case z.full():
		return api.ZoneFullDisruption
	case z.notReady > 2 && int64(z.notReady)*api.MaxUnhealthyZoneThresholdMilli >= int64(s.params.UnhealthyZoneThresholdMilli)*int64(z.nodes):
		return api.ZonePartialDisruption
	}
	return api.ZoneNormal
}

// zoneRateMilli is the rate (thousandths of a node per second) at which a
// zone's bucket refills in its state as of the last pass.
func (s *State) zoneRateMilli(z *zoneHealth) int64 {
	if s.pacing.allDark {
		return 0
	}
	if z.state == api.ZonePartialDisruption {
		if z.nodes > int(s.params.LargeZoneSizeThreshold) {
			return int64(s.params.SecondaryNodeEvictionRateMilli)
		}
		return 0
	}
	return int64(s.params.NodeEvictionRateMilli)
}

// pacingParamsChanged applies a parameter change: the zones' states are
// computed again at the next pass (the threshold may have changed), and
// every node of the backlog is looked at again (partition_policy may
// have changed). O(zones + backlog), once per governance transaction.
func (s *State) pacingParamsChanged() {
	for _, zone := range sortedKeys(s.pacing.zones) {
		s.pacing.dirty[zone] = struct{}{}
	}
	for _, id := range sortedKeys(s.pacing.backlog) {
		s.evictNodes[id] = struct{}{}
	}
}

// evictFromNodes is step 2: the marked nodes join or leave the backlog;
// the buckets refill; the zones' states are brought up to date (events
// zone_status); then the backlog's nodes, in (evict_since_ms, id) order,
// are admitted as their zones allow and lose their active tasks, at most
// max_evictions_per_block in all. With nothing marked, no backlog, no
// bucket to refill and no zone changed, it costs O(1).
func (s *State) evictFromNodes() []Event {
	p := &s.pacing
	if len(s.evictNodes) == 0 && len(p.backlog) == 0 && len(p.buckets) == 0 && len(p.dirty) == 0 {
		return nil
	}
	for _, id := range sortedKeys(s.evictNodes) {
		s.reviewEviction(s.nodes[id])
	}
	clear(s.evictNodes)
	s.refillBuckets()
	events := s.updateZoneStates()
	if len(p.backlog) > 0 {
		events = append(events, s.evictBacklog()...)
	}
	return events
}

// reviewEviction puts a marked node into the backlog, if it calls for
// eviction and holds active tasks, or takes it out, if it no longer calls
// for eviction (it came back, was uncordoned, or partition_policy became
// keep): its remaining tasks stay.
func (s *State) reviewEviction(n *types.Node) {
	_, calls := s.evictionReason(n)
	switch {
	case calls && n.EvictSinceMs == 0:
		for _, t := range s.tasksOn(n.Id) {
			if s.evicts(n, t) {
				n.EvictSinceMs = s.blockTimeMs
				s.pacing.backlog[n.Id] = n
				s.touchNode(n)
				return
			}
		}
	case !calls && n.EvictSinceMs != 0:
		s.leaveBacklog(n)
	}
}

func (s *State) leaveBacklog(n *types.Node) {
	n.EvictSinceMs, n.EvictAdmitted, n.EvictDeferred = 0, false, ""
	delete(s.pacing.backlog, n.Id)
	s.touchNode(n)
}

// refillBuckets adds to each bucket that is not full the tokens of the
// time since it was last refilled, at the rate of its zone's state at the
// last pass (what held in between), and drops the buckets that are full.
func (s *State) refillBuckets() {
	p := &s.pacing
	kept := p.buckets[:0]
	for _, b := range p.buckets {
		elapsed := max(s.blockTimeMs-b.AtMs, 0)
		rate := s.zoneRateMilli(p.zones[b.Zone])
		// rate ≤ 10^6 and elapsed ≤ 10^6 ms in the product: no overflow.
		if rate > 0 && elapsed >= zoneBucketMicro {
			continue // full
		}
		b.TokensMicro += rate * elapsed
		b.AtMs = s.blockTimeMs
		if b.TokensMicro >= zoneBucketMicro {
			continue
		}
		kept = append(kept, b)
	}
	clear(p.buckets[len(kept):])
	p.buckets = kept
}

// bucket returns the zone's bucket index and whether it is stored (not
// full).
func (s *State) bucket(zone string) (int, bool) {
	b := s.pacing.buckets
	i := sort.Search(len(b), func(i int) bool { return b[i].Zone >= zone })
	return i, i < len(b) && b[i].Zone == zone
}

// takeToken admits one node of the zone: its bucket must hold a node.
func (s *State) takeToken(zone string) {
	i, ok := s.bucket(zone)
	if !ok {
		b := &s.pacing.buckets
		*b = append(*b, types.ZoneBucket{})
		copy((*b)[i+1:], (*b)[i:])
		(*b)[i] = types.ZoneBucket{Zone: zone, TokensMicro: zoneBucketMicro, AtMs: s.blockTimeMs}
	}
	s.pacing.buckets[i].TokensMicro -= zoneBucketMicro
}

// updateZoneStates computes the state of the zones whose counts changed
// in this block, emits zone_status for each that changed, and whether
// every zone is FullDisruption.
func (s *State) updateZoneStates() []Event {
	p := &s.pacing
	var events []Event
	for _, zone := range sortedKeys(p.dirty) {
		z := p.zones[zone]
		if z == nil {
			continue // its last node was removed (zoneNodeRemoved)
		}
		to := s.zoneStateOf(z)
		if to != z.state {
			events = append(events, event(api.EventZoneStatus, "zone", zone, "from", z.state, "to", to,
				"not_ready", fmt.Sprint(z.notReady), "nodes", fmt.Sprint(z.nodes)))
			z.state = to
		}
	}
	clear(p.dirty)
	dark := len(p.zones) > 0 && p.fullZones == len(p.zones)
	if p.allDark && !dark {
		p.resumeAtMs = s.blockTimeMs + s.params.DownAfterMs
	}
	if p.resumeAtMs != 0 && s.blockTimeMs >= p.resumeAtMs {
		p.resumeAtMs = 0
	}
	p.allDark = dark
	return events
}

// evictBacklog admits the backlog's nodes as their zones allow and evicts
// the admitted nodes' active tasks, at most max_evictions_per_block, in
// (evict_since_ms, node id, task id) order. A node whose tasks are all
// gone leaves the backlog. A node held back says why (evict_deferred,
// event eviction_deferred when the rule that holds it changes).
func (s *State) evictBacklog() []Event {
	p := &s.pacing
	nodes := make([]*types.Node, 0, len(p.backlog))
	for _, id := range sortedKeys(p.backlog) {
		nodes = append(nodes, p.backlog[id])
	}
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].EvictSinceMs < nodes[j].EvictSinceMs })

	var events []Event
	var running map[string]int // workload -> Running tasks (drainWaits)
	budget := int(s.params.MaxEvictionsPerBlock)
	var held map[string]string // zone -> why its failed nodes wait, in this pass
	cluster := s.clusterHolds()
	for _, n := range nodes {
		if cluster != "" && !n.Draining {
			// Even an admitted node's eviction stops (Kubernetes lifts its
			// taints when it enters this mode).
			events = append(events, s.deferEviction(n, cluster)...)
			continue
		}
		if !n.EvictAdmitted && !n.Draining {
			why, ok := held[n.Zone]
			if !ok {
				why = s.zoneHolds(n.Zone)
				if held == nil {
					held = map[string]string{}
				}
				held[n.Zone] = why
			}
			if why != "" {
				events = append(events, s.deferEviction(n, why)...)
				continue
			}
		}
		if budget == 0 {
			events = append(events, s.deferEviction(n, s.cappedReason())...)
			continue
		}
		reason, _ := s.evictionReason(n)
		tasks := s.tasksOn(n.Id)
		if !n.EvictAdmitted {
			if !s.hasEvictable(n, tasks) {
				s.leaveBacklog(n) // its tasks left by other ways: no token spent
				continue
			}
			if !n.Draining {
				s.takeToken(n.Zone)
				delete(held, n.Zone) // the zone's next node asks again
			}
			n.EvictAdmitted, n.EvictDeferred = true, ""
			s.touchNode(n)
		}
		left, waiting := 0, ""
		for _, t := range tasks {
			if !s.evicts(n, t) {
				continue
			}
			if budget == 0 {
				left++
				continue
			}
			if why := s.drainWaits(n, t, &running); why != "" {
				left++
				if waiting == "" {
					waiting = why
				}
				continue
			}
			if w := s.workloads[t.Workload]; w != nil && s.healthy(w, t) && running != nil {
				if _, counted := running[t.Workload]; counted {
					running[t.Workload]--
				}
			}
			events = append(events, s.evictTask(t, reason)...)
			s.lastPass.Evicted++
			budget--
		}
		if left == 0 {
			s.leaveBacklog(n)
			continue
		}
		if waiting == "" {
			waiting = s.cappedReason()
		}
		events = append(events, s.deferEviction(n, waiting)...)
	}
	s.lastPass.EvictBacklog = len(p.backlog)
	return events
}

func (s *State) cappedReason() string {
	return fmt.Sprintf("max_evictions_per_block %d reached", s.params.MaxEvictionsPerBlock)
}

func (s *State) hasEvictable(n *types.Node, tasks []*types.Task) bool {
	for _, t := range tasks {
		if s.evicts(n, t) {
			return true
		}
	}
	return false
}

// clusterHolds says why no failed node's tasks are evicted now, in any
// zone: every zone is dark, or was until less than down_after_ms ago.
func (s *State) clusterHolds() string {
	p := &s.pacing
	if p.allDark {
		return fmt.Sprintf("every zone (%d) is %s, no node Ready anywhere: evictions stopped (the control plane is more likely cut off than every node lost)",
			len(p.zones), api.ZoneFullDisruption)
	}
	if s.blockTimeMs < p.resumeAtMs {
		return fmt.Sprintf("every zone was %s until the control plane heard from a node again: evictions resume at t=%d (down_after_ms %d later), so that the nodes cut off with it can report first",
			api.ZoneFullDisruption, p.resumeAtMs, s.params.DownAfterMs)
	}
	return ""
}

// zoneHolds says why the zone admits no failed node now, or "" if it
// admits one.
func (s *State) zoneHolds(zone string) string {
	p := &s.pacing
	if why := s.clusterHolds(); why != "" {
		return why
	}
	z := p.zones[zone]
	rate := s.zoneRateMilli(z)
	if rate == 0 {
		return fmt.Sprintf("zone %s is %s (unhealthy_zone_threshold_milli %d) with %d nodes, not more than large_zone_size_threshold %d: evictions stopped in the zone",
			zone, z.state, s.params.UnhealthyZoneThresholdMilli, z.nodes, s.params.LargeZoneSizeThreshold)
	}
	if i, ok := s.bucket(zone); !ok || p.buckets[i].TokensMicro >= zoneBucketMicro {
		return ""
	}
	name := "node_eviction_rate_milli"
	if z.state == api.ZonePartialDisruption {
		name = "secondary_node_eviction_rate_milli"
	}
	return fmt.Sprintf("zone %s is %s: one node per %d ms (%s %d)", zone, z.state, (zoneBucketMicro+rate-1)/rate, name, rate)
}

// deferEviction records why n's tasks wait; a new reason is an event.
func (s *State) deferEviction(n *types.Node, why string) []Event {
	if n.EvictDeferred == why {
		return nil
	}
	n.EvictDeferred = why
	s.touchNode(n)
	left := 0
	for _, t := range s.tasksOn(n.Id) {
		if taskActive(t) {
			left++
		}
	}
	return []Event{event(api.EventEvictionDeferred, "node", n.Id, "zone", n.Zone, "tasks", fmt.Sprint(left), "reason", why)}
}

// rebuildEvictionIndexes derives the zones' counts and states and the
// backlog from the node records (LoadState; the buckets come from
// BlockInfo).
func (s *State) rebuildEvictionIndexes() {
	p := &s.pacing
	for _, id := range s.nodeIDs {
		n := s.nodes[id]
		s.zoneNodeAdded(n)
		if n.EvictSinceMs != 0 {
			p.backlog[id] = n
		}
	}
	for _, zone := range sortedKeys(p.zones) {
		z := p.zones[zone]
		z.state = s.zoneStateOf(z)
	}
	clear(p.dirty)
	p.allDark = len(p.zones) > 0 && p.fullZones == len(p.zones)
}

// verifyEviction checks the pacing indexes against the records: zone
// counts, the backlog (every node in it calls for eviction between
// blocks), the buckets.
func (s *State) verifyEviction() error {
	p := &s.pacing
	count := map[string]*zoneHealth{}
	backlog := 0
	for _, id := range s.nodeIDs {
		n := s.nodes[id]
		z := count[n.Zone]
		if z == nil {
			z = &zoneHealth{}
			count[n.Zone] = z
		}
		z.nodes++
		if notReady(n.State) {
			z.notReady++
		}
		inBacklog := p.backlog[id] == n
		if (n.EvictSinceMs != 0) != inBacklog || !inBacklog && (n.EvictAdmitted || n.EvictDeferred != "") {
			return fmt.Errorf("node %s: evict_since_ms %d, admitted %v, deferred %q; in the backlog index: %v",
				id, n.EvictSinceMs, n.EvictAdmitted, n.EvictDeferred, inBacklog)
		}
		if inBacklog {
			backlog++
			if _, ok := s.evictionReason(n); !ok && !s.inBlock {
				return fmt.Errorf("node %s (%s) is in the eviction backlog but does not call for eviction", id, api.NodeStateName(n.State))
			}
		}
	}
	full := 0
	for _, zone := range sortedKeys(count) {
		z, c := p.zones[zone], count[zone]
		if z == nil || z.nodes != c.nodes || z.notReady != c.notReady {
			return fmt.Errorf("zone %s: the index counts %+v; the nodes %+v", zone, z, *c)
		}
		if c.full() {
			full++
		}
		if !s.inBlock && z.state != s.zoneStateOf(z) {
			return fmt.Errorf("zone %s: state %s; its counts say %s", zone, z.state, s.zoneStateOf(z))
		}
	}
	if len(count) != len(p.zones) || full != p.fullZones || backlog != len(p.backlog) {
		return fmt.Errorf("pacing index: %d zones (%d full), backlog %d; the nodes make %d zones (%d full), backlog %d",
			len(p.zones), p.fullZones, len(p.backlog), len(count), full, backlog)
	}
	for i, b := range p.buckets {
		if p.zones[b.Zone] == nil || b.TokensMicro < 0 || b.TokensMicro >= zoneBucketMicro || i > 0 && p.buckets[i-1].Zone >= b.Zone {
			return fmt.Errorf("zone bucket %d (%s, %d micro-nodes) is out of place", i, b.Zone, b.TokensMicro)
		}
	}
	return nil
}

// zonesAnswer is /zones: every zone, with its backlog. O(zones + backlog).
func (s *State) zonesAnswer() api.ZonesAnswer {
	p := &s.pacing
	ans := api.ZonesAnswer{Height: s.height, EvictionsStopped: p.allDark, Zones: []api.ZoneView{}}
	if s.blockTimeMs < p.resumeAtMs {
		ans.EvictionsResumeAt = p.resumeAtMs
	}
	byZone := map[string]*api.ZoneView{}
	for _, zone := range sortedKeys(p.zones) {
		z := p.zones[zone]
		v := api.ZoneView{Zone: zone, State: z.state, Nodes: z.nodes, NotReady: z.notReady, RateMilli: s.zoneRateMilli(z),
			TokensMicro: zoneBucketMicro, Evicting: []string{}, Waiting: []string{}}
		if i, ok := s.bucket(zone); ok {
			v.TokensMicro = p.buckets[i].TokensMicro
		}
		ans.Zones = append(ans.Zones, v)
	}
	for i := range ans.Zones {
		byZone[ans.Zones[i].Zone] = &ans.Zones[i]
	}
	for _, id := range sortedKeys(p.backlog) {
		n := p.backlog[id]
		v := byZone[n.Zone]
		if n.EvictAdmitted {
			v.Evicting = append(v.Evicting, id)
		} else {
			v.Waiting = append(v.Waiting, id)
		}
	}
	return ans
}

// drainWaits says why task t stays on draining node n for now, "" if it
// may go: before the drain's deadline a service's Running task leaves only
// while its workload keeps min_available (replicas - max_unavailable)
// Running, as in a rolling update; after it, or with no deadline, every
// task goes. running counts each workload's Running tasks, once per pass.
func (s *State) drainWaits(n *types.Node, t *types.Task, running *map[string]int) string {
	if !n.Draining || n.DrainDeadlineMs == 0 || s.blockTimeMs >= n.DrainDeadlineMs {
		return ""
	}
	w := s.workloads[t.Workload]
	if w == nil || w.Spec.Type != "" || !s.healthy(w, t) {
		return "" // batch and system tasks, and unavailable ones, are not held
	}
	if *running == nil {
		*running = map[string]int{}
	}
	r, ok := (*running)[t.Workload]
	if !ok {
		for _, o := range s.tasksOf(t.Workload) {
			if s.healthy(w, o) {
				r++
			}
		}
		(*running)[t.Workload] = r
	}
	if min := s.minAvailable(w); r-1 < min {
		return truncateReason(fmt.Sprintf("drain: %s waits for max_unavailable (%d of %d available, at least %d stay); forced at t=%d",
			t.Id, r, w.Spec.Replicas, min, n.DrainDeadlineMs))
	}
	return ""
}
