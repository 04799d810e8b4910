package networks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	jsonrpcclient "github.com/cometbft/cometbft/rpc/jsonrpc/client"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
)

// DefaultStatusTimeout bounds each RPC call of Status.
const DefaultStatusTimeout = 2 * time.Second

// StatusOptions are the arguments of Status.
type StatusOptions struct {
	// Only names the validators to ask; empty means all.
	Only []string
	// Timeout bounds each RPC call (default DefaultStatusTimeout).
	Timeout time.Duration
}

// ValidatorStatus is one validator as its RPC reports it.
type ValidatorStatus struct {
	Name string `json:"name"`
	// Up: the RPC answered /status.
	Up bool `json:"up"`
	// PID is the live process in the validator's pid file (loopback
	// networks), 0 if none.
	PID        int    `json:"pid,omitempty"`
	Height     int64  `json:"height"`
	AppHash    string `json:"app_hash"` // in the header of block Height (the state after Height-1), hex
	CatchingUp bool   `json:"catching_up"`
	Peers      int    `json:"peers"`
	RPC        string `json:"rpc"`
	// HeaderAppHash is the app_hash in the header of block
	// NetworkStatus.CommonHeight as this validator stores it.
	HeaderAppHash string `json:"header_app_hash,omitempty"`
	Error         string `json:"error,omitempty"`
}

// ObserverStatus is one observer process (networks with agents).
type ObserverStatus struct {
	Name      string `json:"name"`
	Validator string `json:"validator"` // the validator it reports through
	// PID is the live process in its pid file, 0 if none.
	PID int `json:"pid,omitempty"`
	// LastWindow is the last report window it signed a report for (its
	// state file), 0 if none yet.
	LastWindow uint64 `json:"last_window"`
}

// AgentStatus is one worker agent: its process, what its endpoint says,
// and its node as the chain sees it.
type AgentStatus struct {
	Name   string `json:"name"`
	Zone   string `json:"zone"`
	Listen string `json:"listen"`
	// PID is the live process in its pid file, 0 if none.
	PID int `json:"pid,omitempty"`
	// Up: the endpoint answered GET /healthz.
	Up      bool   `json:"up"`
	NodeID  string `json:"node_id,omitempty"` // as /healthz names it
	Tasks   int    `json:"tasks"`
	Running int    `json:"running"`
	// Connected: the agent reaches a validator; Via is its RPC address.
	Connected bool   `json:"connected"`
	Via       string `json:"via,omitempty"`
	// NodeState is the node's state on the chain (Ready, Suspect, Down,
	// …), empty when no validator answered or the node is not registered.
	NodeState string `json:"node_state,omitempty"`
	Error     string `json:"error,omitempty"`
}

// NetworkStatus is the answer of Status.
type NetworkStatus struct {
	ChainID    string            `json:"chain_id"`
	Validators []ValidatorStatus `json:"validators"`
	Observers  []ObserverStatus  `json:"observers,omitempty"`
	Agents     []AgentStatus     `json:"agents,omitempty"`
	Up         int               `json:"up"`
	// CommonHeight is the lowest height among the up validators: one all
	// of them have committed.
	CommonHeight int64 `json:"common_height"`
	// Agree: every up validator has the same app_hash in the header of
	// block CommonHeight (the state after block CommonHeight-1).
	Agree bool `json:"agree"`
}

// Status asks every selected validator's RPC for /status and /net_info,
// each call bounded by opts.Timeout, then compares the app hash in the
// header of their common height. Without opts.Only it also reports the
// network's observers and agents (each agent's /healthz, and its node's
// state on the chain).
func Status(ctx context.Context, m *Manifest, opts StatusOptions) (*NetworkStatus, error) {
	sel, err := m.Select(opts.Only)
	if err != nil {
		return nil, err
	}
	if m.Mode == ModeMultiHost && strings.Contains(sel[0].RPC, "127.0.0.1") {
		return nil, fmt.Errorf("%w: the validators of %s serve RPC on their own hosts' loopback (%s); run `phalanxd query summary --node %s` on a validator host, or re-init with --public-rpc",
			ErrNotLocal, Path(m.Dir), sel[0].RPC, sel[0].RPC)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultStatusTimeout
	}
	ns := &NetworkStatus{ChainID: m.ChainID, Validators: make([]ValidatorStatus, len(sel))}
	var wg sync.WaitGroup
	for i, v := range sel {
		wg.Go(func() {
			st := queryStatus(ctx, v, opts.Timeout)
			if m.Mode == ModeLoopback {
				if pid, ok := runningPID(ValidatorProcess(v)); ok {
					st.PID = pid
				}
			}
			ns.Validators[i] = st
		})
	}
	wg.Wait()
	for _, st := range ns.Validators {
		if !st.Up {
			continue
		}
		if ns.Up == 0 || st.Height < ns.CommonHeight {
			ns.CommonHeight = st.Height
		}
		ns.Up++
	}
	if len(opts.Only) == 0 && m.Mode == ModeLoopback && (len(m.Agents) > 0 || m.Observers) {
		ns.Observers = observerStatuses(m)
		ns.Agents = agentStatuses(ctx, m, ns, opts.Timeout)
	}
	if ns.Up == 0 || ns.CommonHeight < 1 {
		return ns, nil
	}
	for i, v := range sel {
		if !ns.Validators[i].Up {
			continue
		}
		wg.Go(func() {
			ns.Validators[i].HeaderAppHash = headerAppHash(ctx, v, ns.CommonHeight, opts.Timeout)
		})
	}
	wg.Wait()
	ns.Agree = true
	first := ""
	for _, st := range ns.Validators {
		if !st.Up {
			continue
		}
		if st.HeaderAppHash == "" || first != "" && st.HeaderAppHash != first {
			ns.Agree = false
		}
		if first == "" {
			first = st.HeaderAppHash
		}
	}
	return ns, nil
}

// rpcClient is an RPC client whose every call is bounded by timeout.
func rpcClient(v Validator, timeout time.Duration) (*rpchttp.HTTP, error) {
	hc, err := jsonrpcclient.DefaultHTTPClient(v.RPC)
	if err != nil {
		return nil, fmt.Errorf("rpc address %q: %w", v.RPC, err)
	}
	hc.Timeout = timeout
	return rpchttp.NewWithClient(v.RPC, hc)
}

// queryStatus asks v's RPC for /status and /net_info.
func queryStatus(ctx context.Context, v Validator, timeout time.Duration) ValidatorStatus {
	st := ValidatorStatus{Name: v.Name, RPC: v.RPC}
	c, err := rpcClient(v, timeout)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := c.Status(ctx)
	if err != nil {
		st.Error = shortRPCError(err)
		return st
	}
	st.Up = true
	st.Height = s.SyncInfo.LatestBlockHeight
	st.AppHash = s.SyncInfo.LatestAppHash.String()
	st.CatchingUp = s.SyncInfo.CatchingUp
	if ni, err := c.NetInfo(ctx); err == nil {
		st.Peers = ni.NPeers
	} else {
		st.Error = "net_info: " + shortRPCError(err)
	}
	return st
}

// headerAppHash is the app_hash in v's header of block h, "" on error.
func headerAppHash(ctx context.Context, v Validator, h int64, timeout time.Duration) string {
	c, err := rpcClient(v, timeout)
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := c.Header(ctx, &h)
	if err != nil || res.Header == nil {
		return ""
	}
	return res.Header.AppHash.String()
}

// shortRPCError trims the RPC client's wrapping to the cause a user needs
// ("connection refused", a timeout).
func shortRPCError(err error) string {
	s := err.Error()
	for _, cause := range []string{"connection refused", "context deadline exceeded", "Client.Timeout exceeded", "no such host", "connection reset"} {
		if strings.Contains(s, cause) {
			return cause
		}
	}
	return s
}

func observerStatuses(m *Manifest) []ObserverStatus {
	var out []ObserverStatus
	for _, v := range m.Validators {
		st := ObserverStatus{Name: v.Observer, Validator: v.Name}
		if pid, ok := runningPID(m.ObserverProcess(v)); ok {
			st.PID = pid
		}
		// The observer's state file (agent/observer): the last window it
		// signed for.
		if b, err := os.ReadFile(filepath.Join(m.Dir, "observer", v.ObserverAddress+".json")); err == nil {
			var state struct {
				LastWindow uint64 `json:"last_window"`
			}
			if json.Unmarshal(b, &state) == nil {
				st.LastWindow = state.LastWindow
			}
		}
		out = append(out, st)
	}
	return out
}

// agentStatuses asks every agent's endpoint for /healthz, and the first
// up validator for each agent's node.
func agentStatuses(ctx context.Context, m *Manifest, ns *NetworkStatus, timeout time.Duration) []AgentStatus {
	var rpc string
	for _, v := range ns.Validators {
		if v.Up {
			rpc = v.RPC
			break
		}
	}
	out := make([]AgentStatus, len(m.Agents))
	var wg sync.WaitGroup
	for i, a := range m.Agents {
		wg.Go(func() {
			st := AgentStatus{Name: a.Name, Zone: a.Zone, Listen: a.Listen}
			if pid, ok := runningPID(AgentProcess(a)); ok {
				st.PID = pid
			}
			if h, err := agentHealth(ctx, a, timeout); err != nil {
				st.Error = err.Error()
			} else {
				st.Up, st.NodeID, st.Tasks, st.Running = true, h.NodeID, h.Tasks, h.Running
				st.Connected, st.Via = h.ControlPlane.Connected, h.ControlPlane.Node
			}
			if rpc != "" {
				st.NodeState = chainNodeState(ctx, rpc, a.Name, timeout)
			}
			out[i] = st
		})
	}
	wg.Wait()
	return out
}

// agentHealth is agent a's answer to GET /healthz.
func agentHealth(ctx context.Context, a Agent, timeout time.Duration) (*api.AgentHealthView, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.Listen+"/healthz", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s", shortRPCError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /healthz: %s", resp.Status)
	}
	var h api.AgentHealthView
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h); err != nil {
		return nil, fmt.Errorf("GET /healthz: %w", err)
	}
	return &h, nil
}

// chainNodeState is node id's state as validator rpc answers, "" if it
// does not.
func chainNodeState(ctx context.Context, rpc, id string, timeout time.Duration) string {
	c, err := client.New(rpc)
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var nv api.NodeView
	if _, err := c.Query(ctx, client.NodePath(id), &nv); err != nil {
		return ""
	}
	return nv.State
}
