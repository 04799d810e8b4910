package agent

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"time"

	"github.com/phalanx-bft/phalanx/agent/internal/rpcpool"
	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/types"
)

// MaxCheckpointBytesPerHeartbeat bounds the checkpoint bytes one heartbeat
// carries, far below api.MaxTxBytes; checkpoints beyond it wait for the
// next heartbeat.
const MaxCheckpointBytesPerHeartbeat = 64 << 10

// coalesceChanges is the least time between a heartbeat and the next one
// a task's change sends (at most half an interval): changes that close
// together go in one heartbeat, and a started task's Running still makes
// the block after its start (one block: 1 s on the localnet).
const coalesceChanges = 250 * time.Millisecond

// attestedCheckpointEvery: while the node is attested, a running task's
// changed checkpoint is sent at most every this many heartbeat intervals
// (a task that checkpoints continually would otherwise cost a heartbeat
// an interval, as before attested liveness); a replacement then resumes
// from a checkpoint at most this many intervals older than without it.
const attestedCheckpointEvery = 5

// heartbeatLoop sends a heartbeat every interval, and sooner (but no
// sooner than coalesceChanges after the last) when a task changed state.
func (a *Agent) heartbeatLoop(ctx context.Context) {
	bo := rpcpool.Backoff{Max: a.cfg.MaxBackoff}
	var last time.Time
	changed := false // a task's change waits for the coalescing gap
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			checkpointDue := time.Since(last) >= attestedCheckpointEvery*a.interval() && a.checkpointPending()
			if !changed && !checkpointDue && !a.stoppedPending() && a.attestedNow() {
				// An observer quorum holds the node alive: no task changed
				// state, and no checkpoint is due, so nothing to send; look
				// again after an interval.
				a.setStatus(func(s *api.AgentControlPlaneView) { s.HeartbeatsSkipped++ })
				t.Reset(a.interval())
				continue
			}
		case <-a.hbNow:
			changed = true
			if gap := min(a.interval()/2, coalesceChanges); time.Since(last) < gap {
				// Too soon after the last one: keep the timer, but no later
				// than the gap from it.
				if !t.Stop() {
					select {
					case <-t.C:
					default:
					}
				}
				t.Reset(time.Until(last.Add(gap)))
				continue
			}
		}
		last, changed = time.Now(), false
		next := a.interval()
		if err := a.heartbeat(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, rpcpool.ErrAllUnreachable) {
				next = max(bo.Next(), next)
			} else {
				bo.Reset()
			}
			a.setStatus(func(s *api.AgentControlPlaneView) { s.LastError = err.Error() })
			a.logf("heartbeat: %v", err)
		} else {
			bo.Reset()
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(max(time.Until(last.Add(next)), 0))
	}
}

// attestLoop proves the node's own record every heartbeat interval and
// remembers whether an observer quorum attests it (ADR 0018). The proof
// matters: a validator that lied "attested" would make the agent fall
// silent and its node Suspect.
func (a *Agent) attestLoop(ctx context.Context) {
	for {
		var nv api.NodeView
		err := a.pool.Do(ctx, a.cfg.RequestTimeout, func(ctx context.Context, c *client.Client) error {
			v, _, err := c.ProvenNode(ctx, a.cfg.NodeID)
			nv = v
			return err
		})
		a.mu.Lock()
		if err == nil && nv.Attested {
			a.attestedAt = time.Now()
		} else {
			a.attestedAt = time.Time{}
		}
		a.mu.Unlock()
		a.setStatus(func(s *api.AgentControlPlaneView) { s.Attested = err == nil && nv.Attested })
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.interval()):
		}
	}
}

// attestedNow reports whether the node's record, proven within the last
// two heartbeat intervals, says it is attested.
func (a *Agent) attestedNow() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.attestedAt.IsZero() && time.Since(a.attestedAt) < 2*a.hbInterval
}

func (a *Agent) interval() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hbInterval
}

// heartbeat builds, signs and sends one heartbeat to every validator; it
// returns once one admitted it (its commit is awaited in the background,
// submit.go) or every call's deadline passed.
func (a *Agent) heartbeat(ctx context.Context) error {
	seq, err := a.store.nextHeartbeatSeq()
	if err != nil {
		return err
	}
	hb := &types.Heartbeat{NodeId: a.cfg.NodeID, Seq: seq, Usage: a.measureUsage(), Tasks: a.reports()}
	hb.Stopped = a.stoppedReports(hb.Tasks)
	p, err := a.sub.Send(ctx, hb, a.callTimeout())
	if err != nil {
		if errors.Is(err, api.ErrStaleHeartbeat) {
			a.resyncSeq(ctx)
		}
		return err
	}
	a.awaitHeartbeat(ctx, seq, p, hb.Stopped)
	return nil
}

// resyncSeq moves the heartbeat seq above the chain's last accepted one.
func (a *Agent) resyncSeq(ctx context.Context) {
	var nv api.NodeView
	err := a.pool.Do(ctx, a.callTimeout(), func(ctx context.Context, c *client.Client) error {
		_, err := c.Query(ctx, client.NodePath(a.cfg.NodeID), &nv)
		return err
	})
	if err == nil {
		a.store.seqAtLeast(nv.LastHeartbeatSeq + 1)
		a.logf("heartbeat seq resynchronised above the chain's %d", nv.LastHeartbeatSeq)
	}
}

// checkpointPending reports whether a running task's checkpoint differs
// from the one the chain holds: a change a heartbeat carries, attested or
// not (attested, at most every attestedCheckpointEvery intervals).
func (a *Agent) checkpointPending() bool {
	a.mu.Lock()
	chain := a.chain
	a.mu.Unlock()
	for _, st := range a.runner.Tasks() {
		ct, ok := chain[st.TaskID]
		if ok && ct.Generation == st.Generation && st.State == StateRunning &&
			len(st.Checkpoint) > 0 && !bytes.Equal(st.Checkpoint, ct.LastCheckpoint) {
			return true
		}
	}
	return false
}

var reportStates = map[string]types.TaskState{
	StateRunning:   types.TASK_RUNNING,
	StateFailed:    types.TASK_FAILED,
	StateCompleted: types.TASK_COMPLETED,
}

// reports are the task reports of the next heartbeat: every running
// placement of this node, and every ended one whose outcome the chain does
// not show yet; changes first, at most api.MaxTasksPerHeartbeat, with the
// checkpoints that differ from the chain's within
// MaxCheckpointBytesPerHeartbeat.
func (a *Agent) reports() []types.TaskReport {
	a.mu.Lock()
	chain := a.chain
	a.mu.Unlock()
	type item struct {
		r       types.TaskReport
		changed bool
	}
	var items []item
	budget := MaxCheckpointBytesPerHeartbeat
	for _, st := range a.runner.Tasks() {
		ct, ok := chain[st.TaskID]
		if !ok || ct.Generation != st.Generation {
			continue // not (or no longer) placed here: being stopped
		}
		changed := ct.State != st.State
		if st.State != StateRunning && !changed {
			continue // the chain has the outcome
		}
		r := types.TaskReport{
			TaskId: st.TaskID, Generation: st.Generation, State: reportStates[st.State],
			Restarts: st.Restarts, ExitCode: st.ExitCode,
		}
		if st.State == StateRunning {
			r.Ready, _ = a.taskReady(st.TaskID, st.Generation)
			// The chain shows ready only once it saw Running: a change
			// the next heartbeat must carry.
			changed = changed || ct.State == StateRunning && ct.Ready != r.Ready
		}
		if len(st.Checkpoint) > 0 && !bytes.Equal(st.Checkpoint, ct.LastCheckpoint) && len(st.Checkpoint) <= budget {
			r.Checkpoint = st.Checkpoint
			budget -= len(st.Checkpoint)
			changed = true
		}
		items = append(items, item{r, changed})
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].changed && !items[j].changed })
	if len(items) > api.MaxTasksPerHeartbeat {
		items = items[:api.MaxTasksPerHeartbeat]
	}
	out := make([]types.TaskReport, len(items))
	for i, it := range items {
		out[i] = it.r
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TaskId < out[j].TaskId })
	return out
}

// usageMeter turns the tasks' CPU time into a rate between two heartbeats.
type usageMeter struct {
	at    time.Time
	ticks uint64
}

// measureUsage is the resources the node's tasks use: CPU in millicores
// over the time since the last measure, and resident memory.
func (a *Agent) measureUsage() types.Resources {
	ticks, rss := groupsUsage(a.runner.PGIDs())
	now := time.Now()
	a.mu.Lock()
	prev := a.usage
	a.usage = usageMeter{at: now, ticks: ticks}
	a.mu.Unlock()
	u := types.Resources{MemoryMb: int64(rss >> 20)}
	if el := now.Sub(prev.at); !prev.at.IsZero() && el > 0 && ticks > prev.ticks {
		cpuSec := float64(ticks-prev.ticks) / clockTicksPerSecond
		u.CpuMillis = int64(cpuSec / el.Seconds() * 1000)
	}
	u.CpuMillis = min(u.CpuMillis, api.MaxCPUMillis)
	u.MemoryMb = min(u.MemoryMb, api.MaxMemoryMB)
	return u
}
