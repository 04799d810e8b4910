package agent

import (
	"sort"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// Stop before start (issue 14 §6, ADR 0020). The chain places a task's
// replacement only once the node it was evicted from reports the old
// generation stopped (or a timeout passes). The agent reports, in
// Heartbeat.stopped, every placement taken off its node that no longer
// runs here: one it stopped (its process group is gone), and one it saw
// placed here and never started. An entry is sent in every heartbeat
// until one that carries it is committed.

// noteStopped records that generation gen of task id no longer runs here
// and will not be started.
func (a *Agent) noteStopped(id string, gen uint64) {
	a.mu.Lock()
	if a.stopped == nil {
		a.stopped = map[string]uint64{}
	}
	if a.stopped[id] < gen {
		a.stopped[id] = gen
	}
	a.mu.Unlock()
	kick(a.hbNow)
}

// stoppedReports is the stopped list of the next heartbeat, by task id,
// at most api.MaxTasksPerHeartbeat, none of them among reports (the chain
// refuses a heartbeat that reports one generation both ways).
func (a *Agent) stoppedReports(reports []types.TaskReport) []types.StoppedTask {
	running := make(map[string]uint64, len(reports))
	for _, r := range reports {
		running[r.TaskId] = r.Generation
	}
	a.mu.Lock()
	out := make([]types.StoppedTask, 0, len(a.stopped))
	for id, gen := range a.stopped {
		if g, ok := running[id]; !ok || g != gen {
			out = append(out, types.StoppedTask{TaskId: id, Generation: gen})
		}
	}
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].TaskId < out[j].TaskId })
	if len(out) > api.MaxTasksPerHeartbeat {
		out = out[:api.MaxTasksPerHeartbeat]
	}
	return out
}

// stoppedCommitted drops the entries a committed heartbeat carried.
func (a *Agent) stoppedCommitted(sent []types.StoppedTask) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, st := range sent {
		if a.stopped[st.TaskId] == st.Generation {
			delete(a.stopped, st.TaskId)
		}
	}
}

// stoppedPending reports whether a stopped entry waits to be sent.
func (a *Agent) stoppedPending() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.stopped) > 0
}

// neverStarted notes the placements of the previous sync that the new one
// no longer shows here (or shows at another generation), with no live
// process of theirs and no start or stop in flight: they will never run.
func (a *Agent) neverStarted(prev, next map[string]api.TaskView) {
	for id, old := range prev {
		if !wanted(old) {
			continue
		}
		if cur, ok := next[id]; ok && cur.Generation == old.Generation {
			continue
		}
		a.mu.Lock()
		busy := a.busy[id]
		a.mu.Unlock()
		if busy {
			continue // its op reports it when it stops the process
		}
		if st, ok := a.runner.Task(id); ok && st.Generation == old.Generation && st.State == StateRunning {
			continue // running: stopped by reconcile, reported then
		}
		a.noteStopped(id, old.Generation)
	}
}
