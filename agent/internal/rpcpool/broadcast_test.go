package rpcpool

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
)

// broadcastNode answers broadcast_tx_sync with code and log, as CometBFT's
// JSON-RPC does, after delay; it counts the calls.
func broadcastNode(t *testing.T, code uint32, log string, delay time.Duration, calls *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID json.RawMessage `json:"id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		if calls != nil {
			calls.Add(1)
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		resp := map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": map[string]any{
			"code": code, "log": log, "data": "", "codespace": "", "hash": "AB",
		}}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// hangingNode accepts connections and never answers (a SIGSTOPped
// validator's kernel still completes the TCP handshake).
func hangingNode(t *testing.T) *httptest.Server {
	t.Helper()
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	return srv
}

func TestBroadcastSucceedsAsSoonAsOneAdmits(t *testing.T) {
	var calls atomic.Int32
	ok := broadcastNode(t, 0, "", 0, &calls)
	slow := broadcastNode(t, 0, "", 1500*time.Millisecond, &calls)
	p, err := New([]string{deadURL(t), hangingNode(t).URL, slow.URL, ok.URL}, client.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := p.Broadcast(context.Background(), 5*time.Second, []byte("tx")); err != nil {
		t.Fatalf("broadcast with one validator admitting: %v", err)
	}
	if el := time.Since(began); el > time.Second {
		t.Errorf("broadcast returned after %s; want as soon as one node admitted it (a dead, a stopped and a slow node must not delay it)", el)
	}
	// The slow node still gets the transaction.
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d of the 2 answering nodes received the transaction; want both", n)
	}
}

func TestBroadcastBoundedByItsDeadline(t *testing.T) {
	p, err := New([]string{hangingNode(t).URL, deadURL(t), hangingNode(t).URL}, client.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	began := time.Now()
	err = p.Broadcast(context.Background(), timeout, []byte("tx"))
	el := time.Since(began)
	if !errors.Is(err, ErrAllUnreachable) {
		t.Fatalf("broadcast to stopped and dead nodes: %v; want ErrAllUnreachable", err)
	}
	if el > timeout+500*time.Millisecond {
		t.Errorf("broadcast took %s; want about its per-call deadline %s (the calls run in parallel)", el, timeout)
	}
	if err := p.Broadcast(context.Background(), 0, []byte("tx")); err == nil {
		t.Error("broadcast without a deadline accepted; want an error")
	}
}

func TestBroadcastRefusalsPreferTheSequence(t *testing.T) {
	budget := broadcastNode(t, api.ErrSignerBudget.Code, "budget", 0, nil)
	skipped := broadcastNode(t, api.ErrSequenceSkipped.Code, "sequence 9 skips ahead for account X; next is 5", 0, nil)
	skipped2 := broadcastNode(t, api.ErrSequenceSkipped.Code, "sequence 9 skips ahead for account X; next is 7", 0, nil)
	p, err := New([]string{budget.URL, skipped2.URL, skipped.URL, deadURL(t)}, client.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Broadcast(context.Background(), 2*time.Second, []byte("tx"))
	if !errors.Is(err, api.ErrSequenceSkipped) {
		t.Fatalf("refused everywhere: %v; want the sequence refusal (code 8)", err)
	}
	if next, ok := client.ExpectedSequence(err); !ok || next != 5 {
		t.Errorf("expected sequence %d (ok %v); want 5, the lowest gap", next, ok)
	}
	used := broadcastNode(t, api.ErrSequenceUsed.Code, "sequence 3 already used by account X; next is 6", 0, nil)
	used2 := broadcastNode(t, api.ErrSequenceUsed.Code, "sequence 3 already used by account X; next is 8", 0, nil)
	p, err = New([]string{skipped.URL, used.URL, used2.URL}, client.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Broadcast(context.Background(), 2*time.Second, []byte("tx"))
	if next, ok := client.ExpectedSequence(err); !errors.Is(err, api.ErrSequenceUsed) || !ok || next != 8 {
		t.Errorf("refusals 8 and 7: %v (expected %d); want code 7 with the highest next sequence, 8", err, next)
	}
}
