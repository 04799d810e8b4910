package agent

import (
	"encoding/json"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/phalanx-bft/phalanx/agent/internal/ping"
	"github.com/phalanx-bft/phalanx/api"
)

// The agent's HTTP endpoint, for observers and operators. Read-only and
// unauthenticated: bind it to an address only the cluster can reach. The
// same address answers the observers' UDP probes (package ping).
//
//	GET /healthz                    {"node_id", "ok", "tasks", "running", "control_plane"}
//	GET /tasks                      {"node_id", "tasks": [api.AgentTaskView…]}
//	GET /tasks/{workload}/{index}   api.AgentTaskView, or 404

func (a *Agent) taskView(st TaskStatus) api.AgentTaskView {
	v := st.AgentTaskView
	w, idx, _ := strings.Cut(st.TaskID, "/")
	n, _ := strconv.ParseUint(idx, 10, 32)
	v.Workload, v.Index = w, uint32(n)
	if st.State == StateRunning {
		v.Ready, v.Check = a.taskReady(st.TaskID, st.Generation)
	}
	return v
}

// Handler serves the agent's endpoint.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		tasks := a.runner.Tasks()
		v := api.AgentHealthView{NodeID: a.cfg.NodeID, OK: true, Tasks: len(tasks)}
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
		v := api.AgentTasksView{NodeID: a.cfg.NodeID, Tasks: []api.AgentTaskView{}}
		for _, t := range a.runner.Tasks() {
			v.Tasks = append(v.Tasks, a.taskView(t))
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
		writeJSON(w, http.StatusOK, a.taskView(st))
	})
	return mux
}

// pong answers an observer's UDP probe (package ping) as /healthz and
// /tasks would: ok, and how many tasks are not healthy. A ping for
// another node is dropped (the observer then asks /healthz, which says
// whose endpoint this is), so an answer is never larger than its ping by
// more than 3 bytes: no amplification toward a spoofed source.
func (a *Agent) pong(id string, _ net.Addr) (ping.Pong, bool) {
	if id != a.cfg.NodeID {
		return ping.Pong{}, false
	}
	p := ping.Pong{NodeID: a.cfg.NodeID, OK: true}
	for _, t := range a.runner.Tasks() {
		if !t.Healthy && p.Failing < math.MaxUint16 {
			p.Failing++
		}
	}
	return p, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
