package client

import (
	"context"
	"encoding/json"
	"net"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/p2p"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// TestSignAndBroadcastFailsOver: a dead --node and a fallback still
// catching up are skipped; the transaction goes through the next one.
func TestSignAndBroadcastFailsOver(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "tcp://" + l.Addr().String()
	l.Close()
	syncing, sc := newFakeRPC(t)
	syncing.handle("status", func(json.RawMessage) (any, string) {
		return &ctypes.ResultStatus{NodeInfo: p2p.DefaultNodeInfo{Network: "fake-1"}, SyncInfo: ctypes.SyncInfo{LatestBlockHeight: 3, CatchingUp: true}}, ""
	})
	live, lc := newFakeRPC(t)
	live.handle("abci_query", func(json.RawMessage) (any, string) {
		return &ctypes.ResultABCIQuery{Response: abcitypes.QueryResponse{Code: api.ErrUnknownAccount.Code, Log: "unknown account"}}, ""
	})
	live.handle("broadcast_tx_sync", func(json.RawMessage) (any, string) { return &ctypes.ResultBroadcastTx{Code: 0}, "" })
	live.handle("tx", func(json.RawMessage) (any, string) {
		return &ctypes.ResultTx{Height: 12, TxResult: abcitypes.ExecTxResult{Code: 0, Log: "ok"}}, ""
	})
	c, err := NewWithConfig(Config{Node: dead, CommitTimeout: lc.cfg.CommitTimeout, PollInterval: lc.cfg.PollInterval})
	if err != nil {
		t.Fatal(err)
	}
	fc, err := c.WithFallbacks(sc.Node(), lc.Node())
	if err != nil {
		t.Fatal(err)
	}
	if got := fc.Fallbacks(); len(got) != 2 {
		t.Fatalf("fallbacks %v; want 2", got)
	}
	res, err := fc.SignAndBroadcast(context.Background(), testKey(t, 9), &types.UncordonNode{NodeId: "n1"}, TxOptions{})
	if err != nil || res.Height != 12 {
		t.Fatalf("through the fallback: %+v, %v; want committed at height 12", res, err)
	}
	if n := syncing.count("broadcast_tx_sync"); n != 0 {
		t.Errorf("the catching-up node got %d broadcasts; want none", n)
	}
	if n := live.count("broadcast_tx_sync"); n != 1 {
		t.Errorf("the live fallback got %d broadcasts; want 1", n)
	}
	first, err := fc.FirstLive(context.Background())
	if err != nil || first.Node() != lc.Node() {
		t.Errorf("FirstLive: %v, %v; want %s", first, err, lc.Node())
	}
	// No node in sync: an error that says what was expected.
	only, _ := c.WithFallbacks(sc.Node())
	if _, err := only.SignAndBroadcast(context.Background(), testKey(t, 9), &types.UncordonNode{NodeId: "n1"}, TxOptions{}); err == nil {
		t.Error("no node in sync: accepted; want an error")
	}
}
