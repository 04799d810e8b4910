package agent

import (
	"context"
	"errors"
	"time"

	"github.com/phalanx-bft/phalanx/agent/internal/rpcpool"
	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/types"
)

// How the agent submits (docs/agent.md, "Submission"): every transaction is
// signed once, with the one sequence counter of the node's account
// (rpcpool.Submitter), and handed to every validator of the pool at once;
// it counts as sent as soon as one validator admits it. Each call has a
// deadline (callTimeout) well below params.suspect_after_ms, so a validator
// that is down, stopped, slow or censoring delays nothing. The heartbeat
// loop never waits for a commit: each heartbeat's outcome is awaited in
// its own goroutine (awaitHeartbeat), bounded by CommitTimeout.

// maxPendingHeartbeats bounds the heartbeats whose commit is awaited at
// once; beyond it a heartbeat is still sent, its outcome not followed.
const maxPendingHeartbeats = 16

// minCallTimeout is the floor of callTimeout.
const minCallTimeout = time.Second

// callTimeout bounds one request of a submission: the heartbeat interval,
// at least minCallTimeout and at most RequestTimeout.
func (a *Agent) callTimeout() time.Duration {
	return min(a.cfg.RequestTimeout, max(a.interval(), minCallTimeout))
}

// submit signs msg with the node key, hands it to every validator and
// waits, at most CommitTimeout, for its block.
func (a *Agent) submit(ctx context.Context, msg client.Msg) (*client.Result, error) {
	return a.sub.Submit(ctx, msg, a.callTimeout(), a.cfg.CommitTimeout)
}

// awaitHeartbeat follows heartbeat seq (sent as p) until its block, in the
// background, and acts on the outcome: a committed one updates the
// control-plane status and turns a task_stop into a sync; a stale one
// moves the heartbeat seq above the chain's.
func (a *Agent) awaitHeartbeat(ctx context.Context, seq uint64, p *rpcpool.Pending, stopped []types.StoppedTask) {
	select {
	case a.waitSlots <- struct{}{}:
	default:
		a.logf("heartbeat %d sent as tx %s; %d heartbeats already awaited, not following this one", seq, p.Hash, maxPendingHeartbeats)
		return
	}
	a.setStatus(func(s *api.AgentControlPlaneView) {
		s.SentHeartbeatSeq = max(s.SentHeartbeatSeq, seq)
		s.PendingHeartbeats++
	})
	a.waits.Add(1)
	go func() {
		defer a.waits.Done()
		defer func() { <-a.waitSlots }()
		defer a.setStatus(func(s *api.AgentControlPlaneView) { s.PendingHeartbeats-- })
		res, err := a.sub.Wait(ctx, p, a.callTimeout(), a.cfg.CommitTimeout)
		a.heartbeatOutcome(ctx, seq, p, res, err)
		if err == nil {
			a.stoppedCommitted(stopped)
		}
	}()
}

func (a *Agent) heartbeatOutcome(ctx context.Context, seq uint64, p *rpcpool.Pending, res *client.Result, err error) {
	switch {
	case err == nil:
		a.setStatus(func(s *api.AgentControlPlaneView) {
			if seq >= s.HeartbeatSeq {
				s.Connected, s.LastHeartbeat, s.HeartbeatSeq, s.LastError = true, time.Now(), seq, ""
			}
		})
		for _, e := range res.Events {
			if e.Type == api.EventTaskStop {
				kick(a.syncNow)
			}
		}
		return
	case ctx.Err() != nil:
		return
	case errors.Is(err, api.ErrStaleHeartbeat):
		// Another process heartbeats for this node, or this home's state is
		// older than the chain: continue above the chain's last seq.
		a.resyncSeq(ctx)
	}
	a.setStatus(func(s *api.AgentControlPlaneView) { s.LastError = err.Error() })
	a.logf("heartbeat %d (tx %s, sequence %d, sent %s ago): %v", seq, p.Hash, p.Seq, time.Since(p.Sent).Round(time.Millisecond), err)
}
