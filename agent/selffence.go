package agent

import (
	"context"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/types"
)

// Self-fencing (issue 14 §5, ADR 0021). The chain places a stop-first
// task's replacement only once its old node reported the old generation
// stopped, or params.fence_timeout_ms after the block that evicted it
// (ADR 0020). The agent makes the timeout safe: it runs a stop-first
// task only while it knows, from verified state, that the chain could not
// have replaced it yet.
//
// What the agent knows is a lease per running task: an anchor time A such
// that the task was still placed here at generation g in a state that held
// until A. Its sources:
//
//   - a proof of the task's record (start, or a re-proof below): the state
//     at height H held until the time of header H+1, which verified it;
//   - the verified event stream (client.Watch with Trust): every block is
//     checked against the next header before its events are delivered, in
//     order and without a gap, so once block H is delivered with no event
//     naming the task since its proof, the task was still placed here
//     until the time of header H+1 (Progress).
//
// An event naming a running task (placed, evicted, failed, stop) freezes
// its lease: only a proof at or above that event's height moves it on
// (the agent re-proves frozen tasks every second; an eviction it meanwhile
// acts on stops the task anyway).
//
// The chain can evict the task no earlier than A (in a later block) and
// starts the replacement no earlier than A + fence_timeout. The agent
// stops the task (SIGTERM, SIGKILL after a grace) so that it is gone by
// A + window, window = fence_timeout - 2 x max_clock_drift - killMargin:
// one drift for the block times against real time, one for this clock.
// A chain that makes no block (a halt, or this agent cut off) therefore
// stops its stop-first tasks after about window - grace; start-first tasks
// (surge harmless) run on. A self-fenced task is reported Failed
// (ExitCodeFenced) once the agent is back in touch, and the chain restarts
// it by its policy.

// ExitCodeFenced: the agent stopped the task because it could not verify
// for too long that the chain still placed it here (self-fencing).
const ExitCodeFenced = -2

// killMargin is what the window keeps for SIGKILL to take effect and the
// process group to be reaped.
const killMargin = 500 * time.Millisecond

// leaseCheckEvery is how often leases are checked and frozen ones re-proven.
const leaseCheckEvery = 250 * time.Millisecond

type lease struct {
	gen uint64
	// lostAfterMs is the placement's fence timeout as its record says
	// (Task.lost_after_ms; 0: params.fence_timeout_ms).
	lostAfterMs int64
	// anchor is the time until which the placement is known to have held;
	// height the height of the newest proof behind it.
	anchor time.Time
	height int64
	// frozenAt is the height of an event that named the task after its
	// proof (0: none): the stream no longer renews the lease.
	frozenAt int64
	// reprovedAt is when fenceLoop last asked for a proof.
	reprovedAt time.Time
	// killAt is the deadline last sent to the reaper (zero: none), and
	// pid the process group it was sent for.
	killAt time.Time
	pid    int
}

// reproveEvery bounds how often one task's record is proven again.
const reproveEvery = time.Second

// covered reports whether the verified stream renews l: no event named
// the task since its proof, and the stream has delivered every block
// after the proof. The caller holds Agent.mu.
func (f *fenceState) covered(l *lease) bool {
	return l.frozenAt == 0 && f.streamFrom > 0 && l.height >= f.streamFrom-1
}

// fenceState is the agent's self-fencing bookkeeping (guarded by Agent.mu).
type fenceState struct {
	leases map[string]*lease
	// streamFrom is the first height the verified stream delivered
	// (0: none yet); streamAt the last one and streamUntil its header time.
	streamFrom, streamAt int64
	streamUntil          time.Time
	// fenced: tasks this agent self-fenced, id -> generation, reported
	// with ExitCodeFenced.
	fenced map[string]uint64
	// timeoutMs is params.fence_timeout_ms as last proven (-1: not read).
	timeoutMs int64
}

// fenceWindow is how long after a lease's anchor a stop-first task may
// still run, and the grace its stop gets within it, for a placement whose
// record gives lostAfterMs (its workload's disconnect.lost_after_ms; 0:
// params.fence_timeout_ms); ok is false when the chain has no fence for it
// (both 0, or the params not read yet).
func (a *Agent) fenceWindow(lostAfterMs int64) (window, grace time.Duration, ok bool) {
	ms := lostAfterMs
	if ms <= 0 {
		a.mu.Lock()
		ms = a.fence.timeoutMs
		a.mu.Unlock()
	}
	if ms <= 0 || a.cfg.NoSelfFence {
		return 0, 0, false
	}
	timeout := time.Duration(ms) * time.Millisecond
	window = timeout - 2*a.cfg.MaxClockDrift - killMargin
	if window < timeout/2 {
		window = timeout / 2 // a drift bound too large for the timeout: keep half
	}
	grace = min(a.cfg.StopGrace, window/4)
	return window, grace, true
}

// proved records a proof that task t was placed here, in the state at
// p.Height (held until p.HeaderTime).
func (a *Agent) proved(t *types.Task, p *client.Proof) {
	if p == nil {
		return
	}
	id, gen := t.Id, t.Generation
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.fence.leases[id]
	if l == nil || l.gen != gen {
		l = &lease{gen: gen}
		a.fence.leases[id] = l
	}
	l.lostAfterMs = t.LostAfterMs
	if p.Height >= l.height {
		l.height = p.Height
		if p.HeaderTime.After(l.anchor) {
			l.anchor = p.HeaderTime
		}
	}
	if l.frozenAt != 0 && p.Height >= l.frozenAt {
		l.frozenAt = 0
	}
}

// streamEvent freezes the lease of the task an event names.
func (a *Agent) streamEvent(e client.WatchEvent) {
	id := e.Attr("task")
	if id == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.fence.leases[id]; l != nil && e.Height > l.height && l.frozenAt == 0 {
		l.frozenAt = e.Height
	}
}

// streamProgress renews every lease the stream covers: block height was
// delivered, verified, and the state after it held until heldUntil.
func (a *Agent) streamProgress(height int64, heldUntil time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fence.streamFrom == 0 || height != a.fence.streamAt+1 {
		// The first block, or a gap (a new stream): leases count from here.
		a.fence.streamFrom = height
	}
	a.fence.streamAt, a.fence.streamUntil = height, heldUntil
	for _, l := range a.fence.leases {
		if a.fence.covered(l) && heldUntil.After(l.anchor) {
			l.anchor = heldUntil
		}
	}
}

// fenceLoop checks the leases of the running stop-first tasks every
// leaseCheckEvery: it stops a task whose lease runs out, and proves again
// (at most every reproveEvery) the record of one the stream does not
// renew.
func (a *Agent) fenceLoop(ctx context.Context) {
	t := time.NewTicker(leaseCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.dropOldLeases()
		for _, st := range a.runner.Tasks() {
			if st.State != StateRunning {
				continue
			}
			a.mu.Lock()
			l := a.fence.leases[st.TaskID]
			if l == nil || l.gen != st.Generation {
				// No proof recorded for the running generation: what it
				// started on is unknown here, so the lease is as old as
				// the process (a proof came before the start).
				l = &lease{gen: st.Generation, anchor: st.StartedAt}
				a.fence.leases[st.TaskID] = l
			}
			lostAfterMs := l.lostAfterMs
			a.mu.Unlock()
			window, grace, ok := a.fenceWindow(lostAfterMs)
			if !ok || !a.stopFirst(st.TaskID) {
				a.reaperDeadline(st, time.Time{})
				continue
			}
			a.mu.Lock()
			anchor := l.anchor
			// Proven again when the stream does not cover the lease, or
			// has not renewed it for a third of the window (a stream stuck
			// on a validator that died under it: the proofs fail over).
			stale := time.Since(anchor) > window/3
			reprove := (!a.fence.covered(l) || stale) && time.Since(l.reprovedAt) >= reproveEvery
			if reprove {
				l.reprovedAt = time.Now()
			}
			busy := a.busy[st.TaskID]
			a.mu.Unlock()
			if !anchor.IsZero() {
				a.reaperDeadline(st, anchor.Add(window))
			}
			if busy {
				continue // a start or stop in flight decides
			}
			if time.Until(anchor.Add(window-grace)) <= 0 {
				id, gen := st.TaskID, st.Generation
				a.op(ctx, id, func(ctx context.Context) { a.selfFence(ctx, id, gen, anchor, grace) })
				continue
			}
			if reprove {
				id := st.TaskID
				a.op(ctx, id, func(ctx context.Context) { a.reprove(ctx, id) })
			}
		}
	}
}

// reaperDeadline has the reaper SIGKILL st's process group at killAt (zero:
// never), so the task stops on time even if this agent is paused. A
// deadline is sent when it moved by at least reaperDeadlineStep.
func (a *Agent) reaperDeadline(st TaskStatus, killAt time.Time) {
	if a.reaper == nil || st.PID <= 0 {
		return
	}
	a.mu.Lock()
	l := a.fence.leases[st.TaskID]
	send := l != nil && l.gen == st.Generation &&
		(l.pid != st.PID || killAt.IsZero() != l.killAt.IsZero() || killAt.Sub(l.killAt).Abs() >= reaperDeadlineStep)
	if send {
		l.killAt, l.pid = killAt, st.PID
	}
	a.mu.Unlock()
	if send {
		a.reaper.Deadline(st.PID, killAt)
	}
}

// reaperDeadlineStep is how far a deadline moves before the reaper is told.
const reaperDeadlineStep = 200 * time.Millisecond

// stopFirst reports whether task id's workload replaces it stop-first (an
// unknown workload counts as stop-first: the safe side).
func (a *Agent) stopFirst(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	ct, ok := a.chain[id]
	if !ok {
		return true
	}
	w := a.specs[ct.Workload]
	return w == nil || w.Spec.ReplaceOrder != api.StartFirst
}

// reprove proves task id's record: placed here at the running generation,
// its lease moves on; otherwise a sync acts on what the chain says.
func (a *Agent) reprove(ctx context.Context, id string) {
	st, ok := a.runner.Task(id)
	if !ok || st.State != StateRunning {
		return
	}
	var t *types.Task
	var p *client.Proof
	err := a.pool.Do(ctx, a.cfg.RequestTimeout, func(ctx context.Context, c *client.Client) error {
		var err error
		t, p, err = c.ProvenTask(ctx, id, 0)
		return err
	})
	if err != nil {
		return
	}
	if t != nil && t.Node == a.cfg.NodeID && t.Generation == st.Generation && wanted(api.TaskRecordView(t)) {
		a.proved(t, p)
		return
	}
	kick(a.syncNow)
}

// selfFence stops task id (generation gen) whose lease ran out: SIGTERM
// now, SIGKILL after grace, so that it is gone by anchor + window.
func (a *Agent) selfFence(ctx context.Context, id string, gen uint64, anchor time.Time, grace time.Duration) {
	st, ok := a.runner.Task(id)
	if !ok || st.State != StateRunning || st.Generation != gen {
		return
	}
	a.mu.Lock()
	l := a.fence.leases[id]
	renewed := l != nil && l.gen == gen && l.anchor.After(anchor)
	a.mu.Unlock()
	if l == nil {
		l = &lease{}
	}
	if renewed {
		return
	}
	a.logf("task %s generation %d: self-fencing: the chain's state could not be verified since %s (%s ago); the chain may replace it %s after that, so it stops now (grace %s)",
		id, gen, anchor.UTC().Format(time.RFC3339Nano), time.Since(anchor).Round(time.Millisecond), a.fenceTimeout(l), grace)
	if err := a.runner.StopWithin(ctx, id, grace); err != nil {
		a.logf("task %s: %v", id, err)
		return
	}
	a.mu.Lock()
	a.fence.fenced[id] = gen
	delete(a.fence.leases, id)
	a.mu.Unlock()
	a.noteStopped(id, gen) // its replacement may start once this is committed
}

// fenceTimeout is the fence timeout of lease l's placement.
func (a *Agent) fenceTimeout(l *lease) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l.lostAfterMs > 0 {
		return time.Duration(l.lostAfterMs) * time.Millisecond
	}
	return time.Duration(a.fence.timeoutMs) * time.Millisecond
}

// exitCodeGone is the code reported for a placement this agent started
// whose process is gone without an exit seen by this run: ExitCodeFenced
// if it self-fenced it, else ExitCodeLost.
func (a *Agent) exitCodeGone(id string, gen uint64) int32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fence.fenced[id] == gen {
		return ExitCodeFenced
	}
	return ExitCodeLost
}

// forgetFenced drops the self-fenced marks of placements the chain no
// longer shows here at that generation.
func (a *Agent) forgetFenced(chain map[string]api.TaskView) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, gen := range a.fence.fenced {
		if ct, ok := chain[id]; !ok || ct.Generation != gen {
			delete(a.fence.fenced, id)
		}
	}
}

// dropOldLeases drops the leases of tasks not running here at the lease's
// generation whose anchor is older than twice the window: a start would
// refuse them as stale anyway (leaseStale), so nothing can need them. (A
// lease is never dropped by what a sync saw: a start may be proving it.)
func (a *Agent) dropOldLeases() {
	running := map[string]uint64{}
	for _, st := range a.runner.Tasks() {
		if st.State == StateRunning {
			running[st.TaskID] = st.Generation
		}
	}
	a.mu.Lock()
	params := a.fence.timeoutMs
	a.mu.Unlock()
	for id, l := range a.leaseList() {
		ms := l.lostAfterMs
		if ms <= 0 {
			ms = params
		}
		if ms <= 0 {
			continue
		}
		window := time.Duration(ms) * time.Millisecond // at least the window
		a.mu.Lock()
		if g, ok := running[id]; (!ok || g != l.gen) && time.Since(l.anchor) > 2*window && !a.busy[id] && a.fence.leases[id] == l {
			delete(a.fence.leases, id)
		}
		a.mu.Unlock()
	}
}

// leaseList is a copy of the lease map.
func (a *Agent) leaseList() map[string]*lease {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]*lease, len(a.fence.leases))
	for id, l := range a.fence.leases {
		out[id] = l
	}
	return out
}

// leaseStale reports whether a stop-first task about to start is known
// placed here only by state too old to run it (a lagging validator's, or
// one reached through a partition): it would be self-fenced at once.
func (a *Agent) leaseStale(t *types.Task, w *types.Workload) (bool, time.Duration) {
	id, gen := t.Id, t.Generation
	if w != nil && w.Spec.ReplaceOrder == api.StartFirst {
		return false, 0
	}
	window, grace, ok := a.fenceWindow(t.LostAfterMs)
	if !ok {
		return false, 0
	}
	a.mu.Lock()
	l := a.fence.leases[id]
	var anchor time.Time
	if l != nil && l.gen == gen {
		anchor = l.anchor
	}
	a.mu.Unlock()
	since := time.Since(anchor)
	return since > window-grace, since
}
