package rpcforge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/internal/rpcforge"
	"github.com/phalanx-bft/phalanx/internal/testnode"
	"github.com/phalanx-bft/phalanx/types"
)

// upstream is one real single-validator Phalanx node, in process, shared
// by the package's tests (CometBFT keeps process-wide state; one node per
// test binary keeps it simple).
var upstream struct {
	once sync.Once
	err  error
	home string
	rpc  string // tcp://127.0.0.1:PORT
}

// realNode starts (once) the validator and waits for height 3. It is in
// process and takes about 2s, so the tests run with -short too.
func realNode(t *testing.T) string {
	t.Helper()
	upstream.once.Do(func() {
		upstream.rpc, nodeStop, upstream.err = testnode.Start(upstream.home, "rpcforge-test")
	})
	if upstream.err != nil {
		t.Fatal(upstream.err)
	}
	waitHeight(t, upstream.rpc, 3)
	return upstream.rpc
}

var nodeStop func() error

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rpcforge-node")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	upstream.home = dir
	code := m.Run()
	if nodeStop != nil {
		_ = nodeStop()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func waitHeight(t *testing.T, addr string, h int64) {
	t.Helper()
	c, err := rpchttp.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.Status(context.Background())
		if err == nil && st.SyncInfo.LatestBlockHeight >= h {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not at height %d after 30s: %v", addr, h, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func newProxy(t *testing.T, up string) *rpcforge.Proxy {
	t.Helper()
	p, err := rpcforge.New(up, rpcforge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if !strings.HasPrefix(p.URL(), "tcp://127.0.0.1:") {
		t.Fatalf("URL %q; want tcp://127.0.0.1:PORT", p.URL())
	}
	return p
}

func httpURL(tcp string) string { return "http://" + strings.TrimPrefix(tcp, "tcp://") }

// raw sends one HTTP request and returns status and body.
func raw(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// Without rules the proxy's answers are byte for byte the validator's:
// JSON-RPC POST, batch, URI GET, errors.
func TestForwardsUnchanged(t *testing.T) {
	up := realNode(t)
	p := newProxy(t, up)
	posts := []string{
		`{"jsonrpc":"2.0","id":1,"method":"genesis","params":{}}`,
		`{"jsonrpc":"2.0","id":"x","method":"block","params":{"height":"1"}}`,
		`{"jsonrpc":"2.0","id":2,"method":"commit","params":{"height":"2"}}`,
		`{"jsonrpc":"2.0","id":3,"method":"validators","params":{"height":"2"}}`,
		`{"jsonrpc":"2.0","id":4,"method":"abci_query","params":{"path":"/params","data":"","height":"2","prove":true}}`,
		`{"jsonrpc":"2.0","id":5,"method":"no_such_method","params":{}}`,
		`[{"jsonrpc":"2.0","id":6,"method":"header","params":{"height":"2"}},{"jsonrpc":"2.0","id":7,"method":"block_results","params":{"height":"2"}}]`,
	}
	for _, body := range posts {
		s1, direct := raw(t, "POST", httpURL(up)+"/", body)
		s2, via := raw(t, "POST", httpURL(p.URL())+"/", body)
		if s1 != s2 || !bytes.Equal(direct, via) {
			t.Errorf("POST %s:\ndirect %d %s\nproxy  %d %s", body, s1, direct, s2, via)
		}
	}
	gets := []string{`/block?height=1`, `/abci_query?path="/params"&height=2&prove=true`, `/commit?height=2`, `/genesis`, `/`}
	for _, g := range gets {
		s1, direct := raw(t, "GET", httpURL(up)+g, "")
		s2, via := raw(t, "GET", httpURL(p.URL())+g, "")
		if s1 != s2 || !bytes.Equal(direct, via) {
			t.Errorf("GET %s:\ndirect %d %.300s\nproxy  %d %.300s", g, s1, direct, s2, via)
		}
	}
	want := map[string]int{"genesis": 2, "block": 2, "commit": 2, "validators": 1, "abci_query": 2, "no_such_method": 1, "header": 1, "block_results": 1}
	for m, n := range want {
		if got := p.Count(m); got != n {
			t.Errorf("Count(%q) = %d; want %d (all: %v)", m, got, n, p.Counts())
		}
	}
	p.ResetCounts()
	if len(p.Counts()) != 0 {
		t.Errorf("counts after ResetCounts: %v", p.Counts())
	}
	// A real client through the proxy, proven query included.
	c, err := client.New(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	var pv api.ParamsView
	if _, err := c.Query(context.Background(), "/params", &pv); err != nil {
		t.Fatal(err)
	}
	if pv.HeartbeatIntervalMs == 0 {
		t.Errorf("params through the proxy: %+v", pv)
	}
	// Proofs are checked against headers a trust anchor verified.
	tr, err := client.NewTrust(context.Background(), client.TrustOptions{Genesis: filepath.Join(upstream.home, "config", "genesis.json"), Primary: upstream.rpc})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c.SetTrust(tr)
	if _, err := c.QueryProof(context.Background(), "/params"); err != nil {
		t.Errorf("proven /params through the proxy: %v", err)
	}
	if p.Count("abci_query") == 0 {
		t.Errorf("client queries not counted: %v", p.Counts())
	}
}

// A forged abci_query value reaches client.Client decoded; the rule can
// be changed and removed while the proxy runs; other paths are untouched.
func TestForgedQueryReachesClient(t *testing.T) {
	up := realNode(t)
	p := newProxy(t, up)
	ctx := context.Background()
	c, err := client.New(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	direct, err := client.New(up)
	if err != nil {
		t.Fatal(err)
	}
	var real api.ParamsView
	if _, err := direct.Query(ctx, "/params", &real); err != nil {
		t.Fatal(err)
	}

	var seen []rpcforge.QueryRequest
	var mu sync.Mutex
	p.ForgeQuery(func(req rpcforge.QueryRequest, resp *abci.QueryResponse) {
		mu.Lock()
		seen = append(seen, req)
		mu.Unlock()
		if req.Path != "/params" {
			return
		}
		if req.Prove { // the value is the protobuf record, not JSON
			resp.Log = "forged proven answer"
			return
		}
		var v api.ParamsView
		if err := rpcforge.DecodeValue(resp, &v); err != nil {
			t.Error(err)
			return
		}
		v.HeartbeatIntervalMs = 424242
		v.OpenRegistration = !v.OpenRegistration
		if err := rpcforge.EncodeValue(resp, v); err != nil {
			t.Error(err)
		}
		resp.Height = 999999
	})
	var got api.ParamsView
	h, err := c.Query(ctx, "/params", &got)
	if err != nil {
		t.Fatal(err)
	}
	if got.HeartbeatIntervalMs != 424242 || got.OpenRegistration == real.OpenRegistration || h != 999999 {
		t.Errorf("client got %+v at height %d; want the forged heartbeat 424242, open_registration %v, height 999999", got, h, !real.OpenRegistration)
	}
	if len(seen) != 1 || seen[0].Path != "/params" || seen[0].Prove {
		t.Errorf("forger saw %+v; want one /params query without proof", seen)
	}

	// Another path goes through as is.
	var nodes api.NodesAnswer
	if _, err := c.Query(ctx, "/nodes", &nodes); err != nil {
		t.Fatal(err)
	}

	// The GET form and a batch are forged too; request parameters parsed.
	_, body := raw(t, "GET", httpURL(p.URL())+`/abci_query?path="/params"&height=2&prove=true`, "")
	var res struct {
		Result ctypes.ResultABCIQuery `json:"result"`
	}
	if err := rpcforge.DecodeResult(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Result.Response.Log != "forged proven answer" {
		t.Errorf("GET abci_query: log %q; want forged", res.Result.Response.Log)
	}
	if res.Result.Response.ProofOps == nil || len(res.Result.Response.ProofOps.Ops) == 0 {
		t.Errorf("GET abci_query prove=true: the forged answer lost the validator's proof ops")
	}
	_, body = raw(t, "GET", httpURL(p.URL())+`/abci_query?path="/params"`, "")
	if err := rpcforge.DecodeResult(body, &res); err != nil {
		t.Fatal(err)
	}
	if err := rpcforge.DecodeValue(&res.Result.Response, &got); err != nil || got.HeartbeatIntervalMs != 424242 {
		t.Errorf("GET abci_query: %+v %v; want forged", got, err)
	}
	mu.Lock()
	last := seen[len(seen)-2]
	mu.Unlock()
	if last.Path != "/params" || last.Height != 2 || !last.Prove {
		t.Errorf("GET request parsed as %+v; want /params at 2 with proof", last)
	}

	b := c.RPC().NewBatch()
	qres, err := b.ABCIQueryWithOptions(ctx, "/params", nil, rpcclient.ABCIQueryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Send(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rpcforge.DecodeValue(&qres.Response, &got); err != nil || got.HeartbeatIntervalMs != 424242 {
		t.Errorf("batch abci_query: %+v %v; want forged", got, err)
	}

	// ForgePath replaces the rule; nil removes it.
	rpcforge.ForgePath(p, "/params", func(v *api.ParamsView) { v.PartitionPolicy = "forged" })
	if _, err := c.Query(ctx, "/params", &got); err != nil || got.PartitionPolicy != "forged" || got.HeartbeatIntervalMs != real.HeartbeatIntervalMs {
		t.Errorf("ForgePath: %+v %v", got, err)
	}
	p.ForgeQuery(nil)
	if _, err := c.Query(ctx, "/params", &got); err != nil || got != real {
		t.Errorf("after ForgeQuery(nil): %+v %v; want %+v", got, err, real)
	}
}

// ForgeMethod and Forge rewrite any method's result.
func TestForgeMethod(t *testing.T) {
	up := realNode(t)
	p := newProxy(t, up)
	ctx := context.Background()
	c, err := rpchttp.New(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	rpcforge.Forge(p, "status", func(_ rpcforge.Call, r *ctypes.ResultStatus) {
		r.NodeInfo.Network = "forged-chain"
		r.SyncInfo.LatestBlockHeight = 123456789
	})
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.NodeInfo.Network != "forged-chain" || st.SyncInfo.LatestBlockHeight != 123456789 {
		t.Errorf("status: network %q height %d; want forged", st.NodeInfo.Network, st.SyncInfo.LatestBlockHeight)
	}
	var heights []string
	p.ForgeCall("commit", func(call rpcforge.Call, result json.RawMessage) json.RawMessage {
		heights = append(heights, string(call.Params))
		var r ctypes.ResultCommit
		if err := rpcforge.DecodeResult(result, &r); err != nil {
			t.Error(err)
			return nil
		}
		r.SignedHeader.Header.AppHash = bytes.Repeat([]byte{0xAB}, 32)
		b, err := rpcforge.EncodeResult(&r)
		if err != nil {
			t.Error(err)
		}
		return b
	})
	h := int64(2)
	cm, err := c.Commit(ctx, &h)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cm.Header.AppHash, bytes.Repeat([]byte{0xAB}, 32)) {
		t.Errorf("commit app hash %X; want forged", cm.Header.AppHash)
	}
	if len(heights) != 1 || !strings.Contains(heights[0], `"2"`) {
		t.Errorf("forger saw params %v", heights)
	}
	p.ForgeMethod("validators", func(result json.RawMessage) json.RawMessage {
		return json.RawMessage(`{"block_height":"2","validators":[],"count":"0","total":"0"}`)
	})
	vals, err := c.Validators(ctx, &h, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(vals.Validators) != 0 {
		t.Errorf("validators: %d; want the forged empty set", len(vals.Validators))
	}
	p.ClearRules()
	if st, err := c.Status(ctx); err != nil || st.NodeInfo.Network != "rpcforge-test" {
		t.Errorf("after ClearRules: status %v %v", st, err)
	}
	if p.Count("status") != 2 || p.Count("commit") != 1 || p.Count("validators") != 1 {
		t.Errorf("counts %v", p.Counts())
	}
}

// Drop refuses, hangs or fails a method; Restore brings it back; other
// methods keep working meanwhile.
func TestDrop(t *testing.T) {
	up := realNode(t)
	p := newProxy(t, up)
	c, err := rpchttp.New(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, mode := range []rpcforge.DropMode{rpcforge.Refuse, rpcforge.Hang, rpcforge.Fail} {
		p.Drop("status", mode)
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		start := time.Now()
		_, err := c.Status(cctx)
		cancel()
		if err == nil {
			t.Errorf("%s: status answered", mode)
		}
		switch mode {
		case rpcforge.Hang:
			if !errors.Is(err, context.DeadlineExceeded) && time.Since(start) < 400*time.Millisecond {
				t.Errorf("hang: status returned after %s: %v", time.Since(start), err)
			}
		case rpcforge.Fail:
			if err == nil || !strings.Contains(err.Error(), "rpcforge: status refused") {
				t.Errorf("fail: %v; want the forged JSON-RPC error", err)
			}
		}
		if _, err := c.Genesis(ctx); err != nil {
			t.Errorf("%s of status: genesis failed too: %v", mode, err)
		}
	}
	p.Restore("status")
	if _, err := c.Status(ctx); err != nil {
		t.Errorf("after Restore: %v", err)
	}
	p.Delay("status", 400*time.Millisecond)
	start := time.Now()
	if _, err := c.Status(ctx); err != nil || time.Since(start) < 400*time.Millisecond {
		t.Errorf("Delay 400ms: status after %s: %v", time.Since(start), err)
	}
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	if _, err := c.Status(cctx); err == nil {
		t.Error("a delayed status answered a client that gave up after 100ms")
	}
	cancel()
	p.Restore("status")
	start = time.Now()
	if _, err := c.Status(ctx); err != nil || time.Since(start) > 300*time.Millisecond {
		t.Errorf("after Restore of Delay: status after %s: %v", time.Since(start), err)
	}
	if got := p.Count("status"); got != 7 {
		t.Errorf("Count(status) = %d; want 7 (dropped and delayed calls count)", got)
	}
	// A batch holding a failed method fails as a whole, in batch form.
	p.Drop("header", rpcforge.Fail)
	st, body := raw(t, "POST", httpURL(p.URL())+"/", `[{"jsonrpc":"2.0","id":1,"method":"header","params":{"height":"1"}},{"jsonrpc":"2.0","id":2,"method":"status","params":{}}]`)
	var arr []map[string]any
	if err := json.Unmarshal(body, &arr); err != nil || len(arr) != 2 || arr[0]["error"] == nil || st != http.StatusInternalServerError {
		t.Errorf("failed batch: %d %s", st, body)
	}
	// Close releases a hanging request.
	p.Drop("genesis", rpcforge.Hang)
	done := make(chan error, 1)
	go func() { _, err := c.Genesis(ctx); done <- err }()
	time.Sleep(200 * time.Millisecond)
	_ = p.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("hanging genesis answered after Close")
		}
	case <-time.After(5 * time.Second):
		t.Error("Close did not release a hanging request")
	}
}

// client.Watch through the proxy: the websocket subscription is relayed
// and the events of a transaction arrive; dropping the websocket makes a
// subscription fail.
func TestWatchThroughProxy(t *testing.T) {
	up := realNode(t)
	p := newProxy(t, up)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events := make(chan client.WatchEvent, 100)
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- client.Watch(ctx, client.WatchOptions{Nodes: []string{p.URL()}, HealthInterval: time.Second}, func(e client.WatchEvent) error {
			select {
			case events <- e:
			default:
			}
			return nil
		})
	}()
	// Wait until the subscription is up before sending the transaction.
	deadline := time.Now().Add(10 * time.Second)
	for p.Count(rpcforge.WebsocketMethod) == 0 || p.Count("status") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("watch never subscribed through the proxy: %v", p.Counts())
		}
		time.Sleep(50 * time.Millisecond)
	}
	kr, err := keyring.New(upstream.home, keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kr.Signer("admin")
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	nodeID := fmt.Sprintf("forge-%d", time.Now().UnixNano()%1e6)
	dc, err := client.New(up)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dc.SignAndBroadcast(ctx, admin, &types.RegisterNode{NodeId: nodeID, PubKey: pub, Zone: "a",
		Capacity: types.Resources{CpuMillis: 1000, MemoryMb: 1024}}, client.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case e := <-events:
			for _, a := range e.Attributes {
				if a.Value == nodeID {
					if p.Count("block_results") == 0 {
						t.Errorf("watch read no block_results through the proxy: %v", p.Counts())
					}
					goto dropped
				}
			}
		case <-ctx.Done():
			t.Fatalf("no event naming %s through the proxy; counts %v", nodeID, p.Counts())
		}
	}
dropped:
	cancel()
	<-watchDone

	p.Drop(rpcforge.WebsocketMethod, rpcforge.Fail)
	c, err := rpchttp.New(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err == nil {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = c.Subscribe(sctx, "x", "tm.event = 'NewBlock'")
		scancel()
		_ = c.Stop()
		if err == nil {
			t.Error("subscription succeeded with the websocket dropped")
		}
	}
	p.Restore(rpcforge.WebsocketMethod)
	c2, err := rpchttp.New(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c2.Stop() }()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	ch, err := c2.Subscribe(sctx, "y", "tm.event = 'NewBlock'")
	if err != nil {
		t.Fatalf("subscribe after Restore: %v", err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Error("no NewBlock through the proxy's websocket")
	}
}

// Close ends the websocket connections relayed through the proxy.
func TestCloseEndsWebsockets(t *testing.T) {
	up := realNode(t)
	p := newProxy(t, up)
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL(), "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", strings.TrimPrefix(p.URL(), "tcp://"))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 101") {
		t.Fatalf("upgrade through the proxy: %q %v", buf[:n], err)
	}
	if p.Count(rpcforge.WebsocketMethod) != 1 {
		t.Errorf("websocket connections counted: %v", p.Counts())
	}
	_ = p.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := conn.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the websocket is still open 5s after Close")
			}
			return
		}
	}
}
