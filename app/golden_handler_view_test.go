package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/phalanx-bft/phalanx/api"
)

// The printed views in golden scripts: nodes, tasks, workloads, describe,
// pass, accounts, validators, health, observers, changes, query.

// handleNodes: nodes
func (h *harness) handleNodes(a *args, _ string) string { return h.printNodes() }

// handleTasks: tasks [workload=W] [node=N]
func (h *harness) handleTasks(a *args, _ string) string {
	return h.printTasks(a.str("workload", ""), a.str("node", ""))
}

// handleWorkloads: workloads
func (h *harness) handleWorkloads(a *args, _ string) string { return h.printWorkloads() }

// handleDescribe: describe NAME (a workload as /workloads/{name} shows it)
func (h *harness) handleDescribe(a *args, _ string) string { return h.describe(a.arg(0, "NAME")) }

// handlePass: pass (what the last reconcile pass did)
func (h *harness) handlePass(a *args, _ string) string {
	p := h.s.LastPass()
	return fmt.Sprintf("evicted=%d restarted=%d moved=%d replaced=%d place=%v requests=%d examined=%d placed=%d unplaced=%d pending=%d epoch=%d",
		p.Evicted, p.Restarted, p.Moved, p.Replaced, p.PlaceRan, p.Requests, p.Examined, p.Placed, p.Unplaced, h.s.pendingCount, h.s.schedEpoch)
}

// handleAccounts: accounts
func (h *harness) handleAccounts(a *args, _ string) string { return h.printAccounts() }

// handleValidators: validators
func (h *harness) handleValidators(a *args, _ string) string { return h.query("/validators") }

// handleHealth: health ID (the failure detector's view of a node)
func (h *harness) handleHealth(a *args, _ string) string { return h.printHealth(a.arg(0, "ID")) }

// handleObservers: observers (active, reputation, jail)
func (h *harness) handleObservers(a *args, _ string) string { return h.printObservers() }

// handleChanges: changes [bytes=true] (the keys TakeChanges returns; with
// bytes=true, each written record's size)
func (h *harness) handleChanges(a *args, _ string) string {
	sizes := a.bool("bytes")
	var lines []string
	for _, kv := range h.s.TakeChanges() {
		switch {
		case kv.Value == nil:
			lines = append(lines, h.names2(string(kv.Key))+" deleted")
		case sizes:
			lines = append(lines, fmt.Sprintf("%s %d bytes", h.names2(string(kv.Key)), len(kv.Value)))
		default:
			lines = append(lines, h.names2(string(kv.Key)))
		}
	}
	return strings.Join(lines, "\n")
}

// handleQuery: query PATH (the JSON answer, indented); PATH is the rest of
// the line, unparsed.
func (h *harness) handleQuery(a *args, _ string) string {
	path := a.raw()
	if path == "" {
		a.fail("query needs a PATH")
	}
	return h.query(path)
}

// printHealth shows the failure detector's view of a node (/nodes/{id}).
func (h *harness) printHealth(id string) string {
	b, err := h.s.Query("/nodes/" + id)
	if err != nil {
		return fmt.Sprintf("error code %d: %v", api.CodeOf(err), err)
	}
	var v api.NodeView
	if err := json.Unmarshal(b, &v); err != nil {
		panic(err)
	}
	hv := v.Health
	lines := []string{
		fmt.Sprintf("%s %s reason=%q strikes=%d", v.ID, nodeStatusText(&v), v.Reason, v.Strikes),
		fmt.Sprintf("  heartbeat: last t=%d (age %d ms) samples=%d mean=%.0fms sd=%.0fms phi=%.2f (threshold %g)",
			v.LastHeartbeat, v.LastHeartbeatAgeMs, hv.Samples, hv.MeanIntervalMs, hv.StdDevMs, hv.Phi, hv.PhiThreshold),
		fmt.Sprintf("  deadlines: suspect t=%d (%s) down t=%d", hv.SuspectAt, hv.SuspectBy, hv.DownAt),
		fmt.Sprintf("  observers: verdict=%s (window %d) window=%d for=%d against=%d active=%d quorum=%d",
			hv.Verdict, hv.VerdictWindow, hv.Window, hv.ReportsFor, hv.ReportsAgainst, hv.ActiveObservers, hv.Quorum),
	}
	if v.Attested || v.AttestedBy > 0 {
		lines = append(lines, fmt.Sprintf("  attested=%t by=%d fresh=%d quorum=%d", v.Attested, v.AttestedBy, hv.AttestedFresh, hv.Quorum))
	}
	for _, w := range hv.Windows {
		var votes []string
		for _, vote := range w.Votes {
			s := h.names2(vote.Observer) + ":" + map[bool]string{true: "up", false: "down"}[vote.Reachable]
			if len(vote.FailingTaskIDs) > 0 {
				s += ":" + strings.Join(vote.FailingTaskIDs, "+")
			}
			if !vote.Counted {
				s += "(not counted)"
			}
			votes = append(votes, s)
		}
		line := fmt.Sprintf("  window %d: reachable=%d unreachable=%d outcome=%s", w.Window, w.Reachable, w.Unreachable, w.Outcome)
		if w.Struck {
			line += " struck"
		}
		lines = append(lines, line+" votes="+strings.Join(votes, ","))
	}
	return strings.Join(lines, "\n")
}

func nodeStatusText(v *api.NodeView) string {
	s := v.State
	if v.Draining {
		s += ",Draining"
	} else if v.Cordoned {
		s += ",Cordoned"
	}
	return s
}

// printObservers shows /observers compactly.
func (h *harness) printObservers() string {
	b, err := h.s.Query("/observers")
	if err != nil {
		panic(err)
	}
	var ans api.ObserversAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		panic(err)
	}
	lines := []string{fmt.Sprintf("active=%d quorum=%d", ans.Active, ans.Quorum)}
	for _, o := range ans.Observers {
		state := "active"
		switch {
		case o.Jailed:
			state = fmt.Sprintf("jailed (%s)", o.JailReason)
		case !o.Active:
			state = "inactive (below reputation_floor)"
		}
		line := fmt.Sprintf("%s reputation=%d agreements=%d disagreements=%d %s", o.Address, o.Reputation, o.Agreements, o.Disagreements, state)
		if o.ValidatorAddress != "" {
			line += " validator=" + o.ValidatorAddress
		}
		lines = append(lines, h.names2(line))
	}
	return strings.Join(lines, "\n")
}

func (h *harness) printNodes() string {
	var lines []string
	for _, id := range h.s.nodeIDs {
		n := h.s.nodes[id]
		parts := []string{n.Id, api.NodeStateName(n.State), "zone=" + n.Zone,
			fmt.Sprintf("cpu=%d/%d", n.Allocated.CpuMillis, n.Capacity.CpuMillis),
			fmt.Sprintf("mem=%d/%d", n.Allocated.MemoryMb, n.Capacity.MemoryMb),
			fmt.Sprintf("hb=%d#%d", n.LastHeartbeatMs, n.LastHeartbeatSeq)}
		if len(n.Labels) > 0 {
			parts = append(parts, "labels="+labelsString(n.Labels))
		}
		if len(n.IntervalsMs) > 0 {
			parts = append(parts, fmt.Sprintf("intervals=%v", n.IntervalsMs))
		}
		if n.Cordoned {
			parts = append(parts, "cordoned")
		}
		if n.Draining {
			parts = append(parts, "draining")
		}
		var ids []string
		for _, t := range h.s.tasksOn(id) {
			ids = append(ids, t.Id)
		}
		if len(ids) > 0 {
			parts = append(parts, "tasks="+strings.Join(ids, ","))
		}
		parts = append(parts, fmt.Sprintf("reason=%q", n.Reason))
		lines = append(lines, strings.Join(parts, " "))
	}
	if len(lines) == 0 {
		return "(no nodes)"
	}
	return strings.Join(lines, "\n")
}

func (h *harness) printTasks(workload, node string) string {
	q := "/tasks?workload=" + workload + "&node=" + node
	b, err := h.s.Query(q)
	if err != nil {
		panic(err)
	}
	var ans api.TasksAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		panic(err)
	}
	var lines []string
	for _, t := range ans.Tasks {
		parts := []string{t.ID, t.State}
		if t.Node != "" {
			parts = append(parts, "node="+t.Node)
		}
		parts = append(parts, fmt.Sprintf("gen=%d", t.Generation))
		if t.Restarts > 0 {
			parts = append(parts, fmt.Sprintf("restarts=%d", t.Restarts))
		}
		if t.SpecVersion > 1 {
			parts = append(parts, fmt.Sprintf("v%d", t.SpecVersion))
		}
		if t.AvoidNode != "" {
			parts = append(parts, "avoid="+t.AvoidNode)
		}
		if t.AdoptGeneration != 0 {
			parts = append(parts, fmt.Sprintf("adopts=%d", t.AdoptGeneration))
		}
		if len(t.LastCheckpoint) > 0 {
			parts = append(parts, fmt.Sprintf("checkpoint=%q", t.LastCheckpoint))
		}
		if t.Reason != "" {
			parts = append(parts, fmt.Sprintf("reason=%q", t.Reason))
		}
		lines = append(lines, strings.Join(parts, " "))
	}
	if len(lines) == 0 {
		return "(no tasks)"
	}
	return strings.Join(lines, "\n")
}

func (h *harness) printWorkloads() string {
	var lines []string
	for _, name := range sortedKeys(h.s.workloads) {
		v := h.s.workloadView(h.s.workloads[name])
		lines = append(lines, fmt.Sprintf("%s v%d replicas=%d pending=%d assigned=%d running=%d failed=%d completed=%d",
			v.Name, v.Version, v.Replicas, v.Pending, v.Assigned, v.Running, v.Failed, v.Completed))
	}
	if len(lines) == 0 {
		return "(no workloads)"
	}
	return strings.Join(lines, "\n")
}

// describe shows a workload as /workloads/{name} has it, compactly: the
// counts, the rollout, the scheduler's explanation.
func (h *harness) describe(name string) string {
	b, err := h.s.Query("/workloads/" + name)
	if err != nil {
		return fmt.Sprintf("error code %d: %v", api.CodeOf(err), err)
	}
	var v api.WorkloadView
	if err := json.Unmarshal(b, &v); err != nil {
		panic(err)
	}
	lines := []string{fmt.Sprintf("%s v%d (template v%d) replicas=%d pending=%d assigned=%d running=%d failed=%d completed=%d",
		v.Name, v.Version, v.TemplateVersion, v.Replicas, v.Pending, v.Assigned, v.Running, v.Failed, v.Completed)}
	if r := v.Rollout; r != nil {
		lines = append(lines, fmt.Sprintf("  rollout to v%d: updated=%d outdated=%d available=%d min_available=%d",
			r.TemplateVersion, r.Updated, r.Outdated, r.Available, r.MinAvailable))
	}
	if u := v.Unschedulable; u != nil {
		lines = append(lines, fmt.Sprintf("  unschedulable since height %d: %d pending: %s", u.SinceHeight, u.Pending, u.Reason))
	}
	return strings.Join(lines, "\n")
}

func (h *harness) printAccounts() string {
	var lines []string
	for _, k := range sortedKeys(h.s.accounts) {
		v := api.AccountRecordView(h.s.accounts[k])
		line := fmt.Sprintf("%s roles=%s seq=%d", v.Address, strings.Join(v.Roles, ","), v.Sequence)
		if len(v.PubKey) == 0 {
			line += " no-pubkey"
		}
		if v.Jailed {
			line += fmt.Sprintf(" jailed=%q", v.JailReason)
		}
		lines = append(lines, h.names2(line))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func (h *harness) query(path string) string {
	b, err := h.s.Query(path)
	if err != nil {
		return h.names2(fmt.Sprintf("error code %d: %v", api.CodeOf(err), err))
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		panic(err)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return h.names2(strings.TrimRight(out.String(), "\n"))
}
