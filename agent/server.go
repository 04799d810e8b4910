package agent

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// The agent's HTTP endpoint, for observers and operators. Read-only and
// unauthenticated: bind it to an address only the cluster can reach.
//
//	GET /healthz                    {"node_id", "ok", "tasks", "running", "control_plane"}
//	GET /tasks                      {"node_id", "tasks": [TaskView…]}
//	GET /tasks/{workload}/{index}   TaskView, or 404

// HealthView is the answer of GET /healthz.
type HealthView struct {
	NodeID       string   `json:"node_id"`
	OK           bool     `json:"ok"`
	Tasks        int      `json:"tasks"`
	Running      int      `json:"running"`
	ControlPlane cpStatus `json:"control_plane"`
}

// TaskView is a task in GET /tasks.
type TaskView struct {
	TaskStatus
	Workload string `json:"workload"`
	Index    uint32 `json:"index"`
}

// TasksView is the answer of GET /tasks.
type TasksView struct {
	NodeID string     `json:"node_id"`
	Tasks  []TaskView `json:"tasks"`
}

func taskView(st TaskStatus) TaskView {
	w, idx, _ := strings.Cut(st.TaskID, "/")
	n, _ := strconv.ParseUint(idx, 10, 32)
	return TaskView{TaskStatus: st, Workload: w, Index: uint32(n)}
}

// Handler serves the agent's endpoint.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		tasks := a.runner.Tasks()
		v := HealthView{NodeID: a.cfg.NodeID, OK: true, Tasks: len(tasks)}
		for _, t := range tasks {
			if t.State == StateRunning {
				v.Running++
			}
		}
		a.mu.Lock()
		v.ControlPlane = a.status
		a.mu.Unlock()
		writeJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("GET /tasks", func(w http.ResponseWriter, _ *http.Request) {
		v := TasksView{NodeID: a.cfg.NodeID, Tasks: []TaskView{}}
		for _, t := range a.runner.Tasks() {
			v.Tasks = append(v.Tasks, taskView(t))
		}
		writeJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("GET /tasks/{workload}/{index}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("workload") + "/" + r.PathValue("index")
		st, ok := a.runner.Task(id)
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "task " + id + " is not on node " + a.cfg.NodeID})
			return
		}
		writeJSON(w, http.StatusOK, taskView(st))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
