//go:build unix

package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/agent/internal/rpcpool"
	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
)

// admitOnlyNode is a validator that admits every transaction and never
// commits one (a censoring validator, as the agent sees it): status with
// a chain id, an unknown account, broadcasts admitted, tx never found.
func admitOnlyNode(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		resp := map[string]any{"jsonrpc": "2.0", "id": req.ID}
		switch req.Method {
		case "status":
			resp["result"] = map[string]any{
				"node_info":      map[string]any{"network": "censored-1", "protocol_version": map[string]any{}},
				"sync_info":      map[string]any{"latest_block_height": "10"},
				"validator_info": map[string]any{"pub_key": nil}}
		case "abci_query":
			resp["result"] = map[string]any{"response": map[string]any{"code": api.ErrUnknownAccount.Code, "log": "unknown account", "height": "10"}}
		case "broadcast_tx_sync":
			resp["result"] = map[string]any{"code": 0, "log": "", "data": "", "codespace": "", "hash": "AB"}
		default:
			resp["error"] = map[string]any{"code": -32603, "message": "Internal error", "data": "tx (AB) not found"}
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestPendingHeartbeatDoesNotDelayTheNext: a heartbeat admitted and never
// committed is followed in the background; the next heartbeats are sent
// at once, each with the next account sequence.
func TestPendingHeartbeatDoesNotDelayTheNext(t *testing.T) {
	a := testAgent(t, t.TempDir())
	var err error
	a.pool, err = rpcpool.New([]string{admitOnlyNode(t).URL, "tcp://127.0.0.1:1"}, client.Config{}, a.logf)
	if err != nil {
		t.Fatal(err)
	}
	a.sub = a.pool.NewSubmitter(a.cfg.Key)
	a.cfg.CommitTimeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); a.waits.Wait() }()
	for i := range 3 {
		began := time.Now()
		if err := a.heartbeat(ctx); err != nil {
			t.Fatalf("heartbeat %d: %v", i, err)
		}
		if el := time.Since(began); el > time.Second {
			t.Errorf("heartbeat %d took %s to send; want no wait for the previous heartbeat's block", i, el)
		}
	}
	a.mu.Lock()
	st := a.status
	a.mu.Unlock()
	if st.PendingHeartbeats != 3 || st.SentHeartbeatSeq == 0 || st.HeartbeatSeq != 0 {
		t.Errorf("status %+v; want 3 heartbeats pending, one sent seq, none committed", st)
	}
	if next, ok := a.sub.Peek(); !ok || next != 3 {
		t.Errorf("next account sequence %d (loaded %v); want 3 after 3 admitted transactions from 0", next, ok)
	}
}
