package networks

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	jsonrpcclient "github.com/cometbft/cometbft/rpc/jsonrpc/client"
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

// NetworkStatus is the answer of Status.
type NetworkStatus struct {
	ChainID    string            `json:"chain_id"`
	Validators []ValidatorStatus `json:"validators"`
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
// header of their common height.
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
				if pid, ok := runningPID(v); ok {
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
