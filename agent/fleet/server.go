package fleet

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/phalanx-bft/phalanx/agent/internal/ping"
	"github.com/phalanx-bft/phalanx/api"
)

// The fleet's one HTTP listener answers for every node, as each node's
// agent would on its own endpoint (agent/server.go):
//
//	GET /healthz   api.AgentHealthView of the node dialed
//	GET /tasks     api.AgentTasksView: the tasks the chain places on it, all healthy
//
// The node is the one whose address (AddrOf) the connection was made to.
// The same port answers the observers' UDP probes (package ping) for the
// node a ping names.
// A crashed node's connections are closed without an answer, as a dead
// process's would be refused. Each answer closes its connection
// (Connection: close): four observers keeping an idle connection to each
// of 10,000 nodes would hold 40,000 descriptors here. Connections from
// beyond loopback get 403: the listener binds 0.0.0.0 to receive all of
// 127.0.0.0/8, so the host's firewall should keep its port closed too.

// handler serves the nodes' endpoints.
func (f *Fleet) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		n, ok := f.nodeOf(w, r)
		if !ok {
			return
		}
		f.mu.Lock()
		v := api.AgentHealthView{NodeID: n.id, OK: true, Tasks: len(n.tasks), Running: len(n.tasks)}
		v.ControlPlane = api.AgentControlPlaneView{Connected: true, HeartbeatSeq: n.hbSeq - 1, Attested: n.attested}
		f.mu.Unlock()
		f.probes.Add(1)
		writeJSON(w, http.StatusOK, v)
	})
	mux.HandleFunc("GET /tasks", func(w http.ResponseWriter, r *http.Request) {
		n, ok := f.nodeOf(w, r)
		if !ok {
			return
		}
		v := api.AgentTasksView{NodeID: n.id, Tasks: []api.AgentTaskView{}}
		f.mu.Lock()
		for _, id := range sortedKeys(n.tasks) {
			t := n.tasks[id]
			w, idx, _ := strings.Cut(id, "/")
			i, _ := strconv.ParseUint(idx, 10, 32)
			v.Tasks = append(v.Tasks, api.AgentTaskView{TaskID: id, Workload: w, Index: uint32(i), Generation: t.generation,
				State: "Running", Healthy: true})
		}
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, v)
	})
	return mux
}

// nodeOf finds the node a request was made to; it answers for a request
// it refuses (not from loopback, no such node, a crashed node).
func (f *Fleet) nodeOf(w http.ResponseWriter, r *http.Request) (*node, bool) {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err != nil || !net.ParseIP(host).IsLoopback() {
		http.Error(w, "the fleet simulator answers loopback peers only", http.StatusForbidden)
		return nil, false
	}
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	tcp, _ := local.(*net.TCPAddr)
	i := -1
	if tcp != nil {
		if idx, ok := IndexOf(tcp.IP); ok && idx < len(f.nodes) {
			i = idx
		}
	}
	if i < 0 {
		http.Error(w, "no simulated node at this address", http.StatusNotFound)
		return nil, false
	}
	n := f.nodes[i]
	f.mu.Lock()
	crashed := n.crashed
	f.mu.Unlock()
	if crashed {
		f.refused.Add(1)
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return nil, false
			}
		}
		http.Error(w, "crashed", http.StatusServiceUnavailable)
		return nil, false
	}
	return n, true
}

// pong answers an observer's UDP probe (package ping) for the node it
// names, as its agent would: a crashed node's, a node's not played here
// and a peer's beyond loopback are dropped.
func (f *Fleet) pong(id string, from net.Addr) (ping.Pong, bool) {
	if u, ok := from.(*net.UDPAddr); !ok || !u.IP.IsLoopback() {
		return ping.Pong{}, false
	}
	n := f.byID[id]
	if n == nil {
		return ping.Pong{}, false
	}
	f.mu.Lock()
	crashed := n.crashed
	f.mu.Unlock()
	if crashed {
		f.refused.Add(1)
		return ping.Pong{}, false
	}
	f.probes.Add(1)
	return ping.Pong{NodeID: n.id, OK: true}, true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
