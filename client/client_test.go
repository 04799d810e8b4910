package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/p2p"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	rpctypes "github.com/cometbft/cometbft/rpc/jsonrpc/types"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

func testKey(t *testing.T, seed byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func TestBuildTxRoundTrip(t *testing.T) {
	priv := testKey(t, 1)
	msg := &types.RegisterNode{
		NodeId: "n1", PubKey: testKey(t, 2).Public().(ed25519.PublicKey), Zone: "eu-1",
		Labels:   []types.Label{{Key: "arch", Value: "amd64"}, {Key: "disk", Value: "ssd"}},
		Capacity: types.Resources{CpuMillis: 4000, MemoryMb: 8192}, Endpoint: "10.0.0.5:7000",
	}
	// The bare message and its oneof wrapper build the same bytes.
	raw, err := BuildTx("test-1", 12, 40, "hello", msg, priv)
	if err != nil {
		t.Fatal(err)
	}
	raw2, err := BuildTx("test-1", 12, 40, "hello", &types.TxBody_RegisterNode{RegisterNode: msg}, priv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, raw2) {
		t.Fatal("message and wrapper encode differently")
	}

	tx, err := api.DecodeTx(raw, "test-1")
	if err != nil {
		t.Fatalf("api.DecodeTx: %v", err)
	}
	if got, want := tx.Address, crypto.Address(priv.Public().(ed25519.PublicKey)); !bytes.Equal(got, want) {
		t.Errorf("address %X, want %X", got, want)
	}
	b := tx.Body
	if b.ChainId != "test-1" || b.Sequence != 12 || b.TimeoutHeight != 40 || b.Memo != "hello" {
		t.Errorf("body header = %+v", b)
	}
	got := b.GetRegisterNode()
	if got == nil || !reflect.DeepEqual(got, msg) {
		t.Errorf("message = %+v, want %+v", got, msg)
	}

	// Another chain rejects it: the chain id is signed.
	if _, err := api.DecodeTx(raw, "test-2"); !errors.Is(err, api.ErrWrongChainID) {
		t.Errorf("DecodeTx on another chain: %v, want ErrWrongChainID", err)
	}
	// A flipped body byte breaks the signature.
	var wire types.Tx
	if err := wire.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	wire.BodyBytes[len(wire.BodyBytes)-1] ^= 1
	tampered, _ := wire.Marshal()
	if _, err := api.DecodeTx(tampered, "test-1"); !errors.Is(err, api.ErrBadSignature) {
		t.Errorf("DecodeTx of a tampered tx: %v, want ErrBadSignature", err)
	}
}

func TestBuildTxEveryMessage(t *testing.T) {
	priv := testKey(t, 3)
	msgs := []Msg{
		&types.RegisterNode{}, &types.Heartbeat{}, &types.HealthReport{}, &types.ReportEquivocation{},
		&types.CreateWorkload{}, &types.UpdateWorkload{}, &types.DeleteWorkload{}, &types.CordonNode{},
		&types.UncordonNode{}, &types.DrainNode{}, &types.GrantRole{}, &types.RevokeRole{},
		&types.UpdateParams{}, &types.SetValidatorPower{}, &types.RemoveNode{}, &types.UnjailObserver{},
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		raw, err := BuildTx("c", 0, 0, "", m, priv)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		var tx types.Tx
		var body types.TxBody
		if err := tx.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		if err := body.Unmarshal(tx.BodyBytes); err != nil {
			t.Fatal(err)
		}
		if body.Msg == nil {
			t.Fatalf("%T: no message in body", m)
		}
		name := fmt.Sprintf("%T", body.Msg)
		if seen[name] {
			t.Errorf("%T maps to %s twice", m, name)
		}
		seen[name] = true
	}
	if len(seen) != len(msgs) {
		t.Errorf("%d distinct oneof cases for %d messages", len(seen), len(msgs))
	}
}

func TestBuildTxRejects(t *testing.T) {
	priv := testKey(t, 4)
	cases := []struct {
		name    string
		chainID string
		timeout int64
		msg     Msg
		priv    ed25519.PrivateKey
		want    string
	}{
		{"not a message", "c", 0, &types.Node{}, priv, "is not a transaction message"},
		{"nil", "c", 0, nil, priv, "is not a transaction message"},
		{"empty chain", "", 0, &types.DeleteWorkload{Name: "w"}, priv, "chain id is empty"},
		{"negative timeout", "c", -1, &types.DeleteWorkload{Name: "w"}, priv, "negative"},
		{"short key", "c", 0, &types.DeleteWorkload{Name: "w"}, priv[:10], "private key is 10 bytes"},
	}
	for _, tc := range cases {
		_, err := BuildTx(tc.chainID, 0, tc.timeout, "", tc.msg, tc.priv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

func TestCheckMsg(t *testing.T) {
	if err := CheckMsg("c", 0, "", &types.CordonNode{NodeId: "n1", Reason: "x"}); err != nil {
		t.Errorf("valid message: %v", err)
	}
	err := CheckMsg("c", 0, "", &types.CordonNode{NodeId: "N1"})
	var te *TxError
	if !errors.As(err, &te) || te.Code != api.ErrInvalidMessage.Code || !errors.Is(err, api.ErrInvalidMessage) {
		t.Errorf("invalid node id: err = %v, want a TxError with code %d", err, api.ErrInvalidMessage.Code)
	}
	if err := CheckMsg("c", 0, strings.Repeat("m", api.MaxMemoBytes+1), &types.UncordonNode{NodeId: "n1"}); err == nil {
		t.Error("over-long memo accepted")
	}
}

func TestParseInvalidTx(t *testing.T) {
	msg := "error in json rpc client, with http response metadata: (Status: 200 OK, Protocol HTTP/1.1). " +
		"RPC error -32603 - Internal error: broadcast error on transaction validation: tx 3AE7 is invalid: " +
		"code=10, data=, log='DrainNode needs role operator; it's, tricky', codespace=''"
	code, log, ok := parseInvalidTx(msg)
	if !ok || code != 10 || log != "DrainNode needs role operator; it's, tricky" {
		t.Errorf("parseInvalidTx = %d, %q, %v", code, log, ok)
	}
	for _, m := range []string{"connection refused", "tx X is invalid: code=abc, log='x'", "tx X is invalid: code=0, log='x'"} {
		if _, _, ok := parseInvalidTx(m); ok {
			t.Errorf("parseInvalidTx(%q) ok", m)
		}
	}
}

func TestNormalizeNode(t *testing.T) {
	cases := map[string]string{
		"":                     DefaultNode,
		"127.0.0.1:1234":       "tcp://127.0.0.1:1234",
		"tcp://h:1":            "tcp://h:1",
		"http://h:1":           "http://h:1",
		" https://h:1 ":        "https://h:1",
		"unix:///tmp/rpc.sock": "unix:///tmp/rpc.sock",
	}
	for in, want := range cases {
		if got, err := NormalizeNode(in); err != nil || got != want {
			t.Errorf("NormalizeNode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"ftp://h:1", "tcp://"} {
		if _, err := NormalizeNode(bad); err == nil {
			t.Errorf("NormalizeNode(%q) accepted", bad)
		}
	}
}

func TestParseHash(t *testing.T) {
	h := strings.Repeat("aB", 32)
	b, err := parseHash(h)
	if err != nil || len(b) != 32 || b[0] != 0xab {
		t.Errorf("parseHash = %X, %v", b, err)
	}
	for _, bad := range []string{"", "zz", strings.Repeat("g", 64)} {
		if _, err := parseHash(bad); err == nil {
			t.Errorf("parseHash(%q) accepted", bad)
		}
	}
}

func TestErrorsMatchSentinels(t *testing.T) {
	err := error(&TxError{Code: 7, Log: "sequence 12 already used"})
	if !errors.Is(err, api.ErrSequenceUsed) || errors.Is(err, api.ErrSequenceSkipped) {
		t.Error("TxError code 7 must match ErrSequenceUsed only")
	}
	if got := err.Error(); got != "code 7: sequence 12 already used" {
		t.Errorf("Error() = %q", got)
	}
	qe := error(&QueryError{Code: api.ErrNotFound.Code, Log: "node n7 is not registered"})
	if !IsNotFound(qe) {
		t.Error("QueryError code 21 must be not found")
	}
}

func TestJSONDiff(t *testing.T) {
	a := api.AccountView{Address: "A", Sequence: 1, Roles: []string{}}
	b := a
	if d := jsonDiff(a, &b); d != nil {
		t.Errorf("equal views differ: %v", d)
	}
	b.Sequence = 2
	d := jsonDiff(a, &b)
	if len(d) != 1 || !strings.HasPrefix(d[0], "sequence (proven 1, answered 2)") {
		t.Errorf("diff = %v", d)
	}
}

// ---- against a fake CometBFT RPC ----

// fakeRPC answers the JSON-RPC methods the client uses. Handlers return
// the result, or an error message for an RPC error.
type fakeRPC struct {
	mu       sync.Mutex
	calls    map[string]int
	handlers map[string]func(params json.RawMessage) (any, string)
}

func newFakeRPC(t *testing.T) (*fakeRPC, *Client) {
	t.Helper()
	f := &fakeRPC{calls: map[string]int{}, handlers: map[string]func(json.RawMessage) (any, string){}}
	f.handlers["status"] = func(json.RawMessage) (any, string) {
		return &ctypes.ResultStatus{NodeInfo: p2p.DefaultNodeInfo{Network: "fake-1"}, SyncInfo: ctypes.SyncInfo{LatestBlockHeight: 10}}, ""
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req rpctypes.RPCRequest
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.calls[req.Method]++
		h := f.handlers[req.Method]
		f.mu.Unlock()
		var resp rpctypes.RPCResponse
		switch res, errMsg := h(req.Params); {
		case h == nil:
			resp = rpctypes.NewRPCErrorResponse(req.ID, -32601, "Method not found", req.Method)
		case errMsg != "":
			resp = rpctypes.NewRPCErrorResponse(req.ID, -32603, "Internal error", errMsg)
		default:
			resp = rpctypes.NewRPCSuccessResponse(req.ID, res)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	c, err := NewWithConfig(Config{Node: srv.URL, CommitTimeout: 500 * time.Millisecond, PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func (f *fakeRPC) handle(method string, h func(json.RawMessage) (any, string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[method] = h
}

func (f *fakeRPC) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func TestChainIDCached(t *testing.T) {
	f, c := newFakeRPC(t)
	for i := 0; i < 3; i++ {
		id, err := c.ChainID(context.Background())
		if err != nil || id != "fake-1" {
			t.Fatalf("ChainID = %q, %v", id, err)
		}
	}
	if n := f.count("status"); n != 1 {
		t.Errorf("status called %d times, want 1", n)
	}
	c.SetChainID("other")
	if id, _ := c.ChainID(context.Background()); id != "other" {
		t.Errorf("ChainID after SetChainID = %q", id)
	}
}

func TestBroadcastWaitsForCommit(t *testing.T) {
	f, c := newFakeRPC(t)
	raw, _ := BuildTx("fake-1", 0, 0, "", &types.UncordonNode{NodeId: "n1"}, testKey(t, 5))
	f.handle("broadcast_tx_sync", func(json.RawMessage) (any, string) {
		return &ctypes.ResultBroadcastTx{Code: 0}, ""
	})
	polls := 0
	f.handle("tx", func(json.RawMessage) (any, string) {
		polls++
		if polls < 3 {
			return nil, "tx (ABC) not found"
		}
		return &ctypes.ResultTx{Height: 11, TxResult: abcitypes.ExecTxResult{
			Code: 0, Log: "node n1 uncordoned",
			Events: []abcitypes.Event{{Type: "node_status", Attributes: []abcitypes.EventAttribute{{Key: "node", Value: "n1"}}}},
		}}, ""
	})
	res, err := c.Broadcast(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if res.Height != 11 || res.Code != 0 || res.Hash != TxHash(raw) || res.Log != "node n1 uncordoned" ||
		len(res.Events) != 1 || res.Events[0].Attributes[0] != (Attribute{Key: "node", Value: "n1"}) {
		t.Errorf("result = %+v", res)
	}
	if polls != 3 {
		t.Errorf("tx polled %d times, want 3", polls)
	}
}

func TestBroadcastRejections(t *testing.T) {
	f, c := newFakeRPC(t)
	raw, _ := BuildTx("fake-1", 0, 0, "", &types.UncordonNode{NodeId: "n1"}, testKey(t, 6))

	// CheckTx rejection as CometBFT v1 reports it: an RPC error.
	f.handle("broadcast_tx_sync", func(json.RawMessage) (any, string) {
		return nil, "broadcast error on transaction validation: tx AB is invalid: code=7, data=, log='sequence 0 already used', codespace=''"
	})
	_, err := c.Broadcast(context.Background(), raw)
	var te *TxError
	if !errors.As(err, &te) || te.Code != 7 || te.Height != 0 || te.Log != "sequence 0 already used" || te.Hash != TxHash(raw) {
		t.Fatalf("CheckTx rejection: %v", err)
	}
	if f.count("tx") != 0 {
		t.Error("a CheckTx rejection must not wait for a block")
	}

	// CheckTx rejection in the result (older nodes).
	f.handle("broadcast_tx_sync", func(json.RawMessage) (any, string) {
		return &ctypes.ResultBroadcastTx{Code: 10, Log: "unauthorized"}, ""
	})
	if _, err := c.Broadcast(context.Background(), raw); !errors.Is(err, api.ErrUnauthorized) {
		t.Fatalf("CheckTx code in result: %v", err)
	}

	// DeliverTx rejection: the result comes back with the error.
	f.handle("broadcast_tx_sync", func(json.RawMessage) (any, string) { return &ctypes.ResultBroadcastTx{}, "" })
	f.handle("tx", func(json.RawMessage) (any, string) {
		return &ctypes.ResultTx{Height: 12, TxResult: abcitypes.ExecTxResult{Code: 19, Log: "stale heartbeat"}}, ""
	})
	res, err := c.Broadcast(context.Background(), raw)
	if !errors.As(err, &te) || te.Code != 19 || te.Height != 12 || res == nil || res.Height != 12 {
		t.Fatalf("DeliverTx rejection: res %+v, err %v", res, err)
	}

	// Never committed: a deadline, not a hang.
	f.handle("tx", func(json.RawMessage) (any, string) { return nil, "tx (AB) not found" })
	start := time.Now()
	_, err = c.Broadcast(context.Background(), raw)
	if !errors.Is(err, ErrCommitTimeout) || !strings.Contains(err.Error(), "query tx") {
		t.Fatalf("not committed: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("waited %s; the deadline is 500ms", d)
	}
}

// blocksHolding makes the fake serve blocks 1..10, block 9 holding txs.
func (f *fakeRPC) blocksHolding(txs [][]byte, results []*abcitypes.ExecTxResult) {
	height := func(params json.RawMessage) int64 {
		var p struct {
			Height string `json:"height"`
		}
		_ = json.Unmarshal(params, &p)
		var h int64
		_, _ = fmt.Sscan(p.Height, &h)
		return h
	}
	f.handle("block", func(params json.RawMessage) (any, string) {
		b := &cmttypes.Block{Header: cmttypes.Header{Height: height(params)}}
		if b.Height == 9 {
			for _, tx := range txs {
				b.Data.Txs = append(b.Data.Txs, tx)
			}
		}
		return &ctypes.ResultBlock{Block: b}, ""
	})
	f.handle("block_results", func(params json.RawMessage) (any, string) {
		return &ctypes.ResultBlockResults{Height: height(params), TxResults: results}, ""
	})
}

func TestBroadcastDroppedAfterTimeoutHeight(t *testing.T) {
	f, c := newFakeRPC(t)
	raw, _ := BuildTx("fake-1", 0, 5, "", &types.UncordonNode{NodeId: "n1"}, testKey(t, 7))
	f.handle("broadcast_tx_sync", func(json.RawMessage) (any, string) { return &ctypes.ResultBroadcastTx{}, "" })
	f.handle("tx", func(json.RawMessage) (any, string) { return nil, "tx (AB) not found" })
	f.blocksHolding(nil, nil)
	// status reports height 10 > timeout height 5.
	_, err := c.Broadcast(context.Background(), raw)
	if !errors.Is(err, ErrTxDropped) {
		t.Fatalf("err = %v, want ErrTxDropped", err)
	}
}

func TestBroadcastSequenceTakenByAnotherTx(t *testing.T) {
	f, c := newFakeRPC(t)
	raw, _ := BuildTx("fake-1", 3, 0, "", &types.UncordonNode{NodeId: "n1"}, testKey(t, 8))
	f.handle("broadcast_tx_sync", func(json.RawMessage) (any, string) { return &ctypes.ResultBroadcastTx{}, "" })
	f.handle("tx", func(json.RawMessage) (any, string) { return nil, "tx (AB) not found" })
	f.handle("abci_query", func(json.RawMessage) (any, string) {
		return &ctypes.ResultABCIQuery{Response: abcitypes.QueryResponse{Height: 10, Value: []byte(`{"sequence":4}`)}}, ""
	})
	f.blocksHolding(nil, nil)
	_, err := c.Broadcast(context.Background(), raw)
	if !errors.Is(err, api.ErrSequenceUsed) || !strings.Contains(err.Error(), "will never be included") {
		t.Fatalf("err = %v, want a code 7 TxError", err)
	}
	// Had it been in a block the index missed, the block scan finds it.
	f.blocksHolding([][]byte{[]byte("other"), raw}, []*abcitypes.ExecTxResult{{}, {Code: 0, Log: "ok"}})
	res, err := c.Broadcast(context.Background(), raw)
	if err != nil || res.Height != 9 || res.Log != "ok" {
		t.Fatalf("res = %+v, err = %v; want the result from block 9", res, err)
	}
}

func TestBroadcastWithoutTxIndex(t *testing.T) {
	f, c := newFakeRPC(t)
	raw, _ := BuildTx("fake-1", 0, 0, "", &types.UncordonNode{NodeId: "n1"}, testKey(t, 9))
	f.handle("broadcast_tx_sync", func(json.RawMessage) (any, string) { return &ctypes.ResultBroadcastTx{}, "" })
	f.handle("tx", func(json.RawMessage) (any, string) { return nil, "transaction indexing is disabled" })
	f.blocksHolding([][]byte{raw}, []*abcitypes.ExecTxResult{{Code: 13, Log: "node exists"}})
	res, err := c.Broadcast(context.Background(), raw)
	if !errors.Is(err, api.ErrNodeExists) || res == nil || res.Height != 9 {
		t.Fatalf("res = %+v, err = %v; want the code 13 result from block 9", res, err)
	}
}

func TestQueryDecodesAndReportsCodes(t *testing.T) {
	f, c := newFakeRPC(t)
	f.handle("abci_query", func(params json.RawMessage) (any, string) {
		var p struct {
			Path string `json:"path"`
		}
		_ = json.Unmarshal(params, &p)
		switch p.Path {
		case "/accounts/0101010101010101010101010101010101010101":
			return &ctypes.ResultABCIQuery{Response: abcitypes.QueryResponse{
				Height: 9, Value: []byte(`{"address":"0101010101010101010101010101010101010101","sequence":4,"roles":["operator"]}`),
			}}, ""
		default:
			return &ctypes.ResultABCIQuery{Response: abcitypes.QueryResponse{Code: 21, Log: "account does not exist", Height: 9}}, ""
		}
	})
	ctx := context.Background()
	addr := bytes.Repeat([]byte{1}, 20)
	acc, err := c.Account(ctx, addr)
	if err != nil || acc.Sequence != 4 || len(acc.Roles) != 1 {
		t.Fatalf("Account = %+v, %v", acc, err)
	}
	if seq, err := c.NextSequence(ctx, addr); err != nil || seq != 4 {
		t.Errorf("NextSequence = %d, %v", seq, err)
	}
	other := bytes.Repeat([]byte{2}, 20)
	if _, err := c.Account(ctx, other); !IsNotFound(err) || err.Error() != "code 21: account does not exist" {
		t.Errorf("missing account: %v", err)
	}
	if seq, err := c.NextSequence(ctx, other); err != nil || seq != 0 {
		t.Errorf("NextSequence of a new account = %d, %v; want 0", seq, err)
	}

	s, err := c.NewSequencer(addr)
	if err != nil {
		t.Fatal(err)
	}
	for want := uint64(4); want < 7; want++ {
		if got, err := s.Next(ctx); err != nil || got != want {
			t.Fatalf("Sequencer.Next = %d, %v; want %d", got, err, want)
		}
	}
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Next(ctx); got != 4 {
		t.Errorf("after Reset, Next = %d; want 4", got)
	}
}

func TestQueryProofRejectsMissingProof(t *testing.T) {
	f, c := newFakeRPC(t)
	f.handle("abci_query", func(json.RawMessage) (any, string) {
		return &ctypes.ResultABCIQuery{Response: abcitypes.QueryResponse{Height: 9, Key: []byte("params"), Value: []byte{1}}}, ""
	})
	_, _, _, err := c.QueryProven(context.Background(), "/params")
	if !errors.Is(err, ErrProofInvalid) {
		t.Fatalf("err = %v, want ErrProofInvalid", err)
	}
}
