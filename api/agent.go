package api

import "time"

// The answers of a worker agent's HTTP endpoint (docs/agent.md), which
// observers probe and `phalanxd testnet status` reads:
//
//	GET /healthz                    AgentHealthView
//	GET /tasks                      AgentTasksView
//	GET /tasks/{workload}/{index}   AgentTaskView, or 404

// AgentHealthView is the answer of GET /healthz.
type AgentHealthView struct {
	NodeID       string                `json:"node_id"`
	OK           bool                  `json:"ok"`
	Tasks        int                   `json:"tasks"`
	Running      int                   `json:"running"`
	ControlPlane AgentControlPlaneView `json:"control_plane"`
}

// AgentControlPlaneView is what an agent tells of its link to the chain.
type AgentControlPlaneView struct {
	Connected     bool      `json:"connected"`
	Node          string    `json:"node"`
	Height        int64     `json:"height"`
	LastHeartbeat time.Time `json:"last_heartbeat,omitzero"`
	HeartbeatSeq  uint64    `json:"heartbeat_seq"`
	// SentHeartbeatSeq is the last heartbeat a validator admitted;
	// PendingHeartbeats the heartbeats admitted whose block is still
	// awaited.
	SentHeartbeatSeq  uint64 `json:"sent_heartbeat_seq"`
	PendingHeartbeats int    `json:"pending_heartbeats"`
	// Attested: the node's record, last proven, says an observer quorum
	// holds it alive (ADR 0018), so periodic heartbeats are skipped
	// (HeartbeatsSkipped of them); a task's change is still sent at once.
	Attested          bool   `json:"attested"`
	HeartbeatsSkipped uint64 `json:"heartbeats_skipped"`
	LastError         string `json:"last_error,omitempty"`
}

// AgentTaskView is a task process as its agent sees it.
type AgentTaskView struct {
	TaskID     string `json:"id"`
	Workload   string `json:"workload"`
	Index      uint32 `json:"index"`
	Generation uint64 `json:"generation"`
	// State is Running, Failed or Completed.
	State    string `json:"state"`
	PID      int    `json:"pid"`
	ExitCode int32  `json:"exit_code"`
	Restarts uint32 `json:"restarts"`
	// Healthy: the process is running.
	Healthy bool `json:"healthy"`
	// Ready: running and passing its readiness checks (true when its
	// workload has none); Check says what the last failing check said.
	Ready     bool      `json:"ready"`
	Check     string    `json:"check,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	ExitedAt  time.Time `json:"exited_at,omitzero"`
	Log       string    `json:"log"`
	// CheckpointErr says why the checkpoint file could not be read.
	CheckpointErr string `json:"checkpoint_error,omitempty"`
}

// AgentTasksView is the answer of GET /tasks.
type AgentTasksView struct {
	NodeID string          `json:"node_id"`
	Tasks  []AgentTaskView `json:"tasks"`
}
