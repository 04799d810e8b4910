package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/internal/rpcforge"
	"github.com/phalanx-bft/phalanx/internal/testnode"
	"github.com/phalanx-bft/phalanx/types"
)

// The tests of Trust run against one real single-validator Phalanx node,
// in process (CometBFT keeps process-wide state: one node per test
// binary), with 200 ms blocks; it takes about 2 s to start, so they run
// with -short too. rpcforge proxies in front of it observe (and, where a
// test says so, forge) what the light client asks.

var realNode struct {
	once sync.Once
	err  error
	home string
	rpc  string // tcp://127.0.0.1:PORT
	stop func() error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "client-trust-node")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	realNode.home = dir
	code := m.Run()
	if realNode.stop != nil {
		_ = realNode.stop()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func loopbackAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startNode starts (once) the validator and waits for height h.
func startNode(tb testing.TB, h int64) string {
	tb.Helper()
	realNode.once.Do(func() {
		realNode.rpc, realNode.stop, realNode.err = testnode.Start(realNode.home, "client-trust-test")
	})
	if realNode.err != nil {
		tb.Fatal(realNode.err)
	}
	waitNodeHeight(tb, realNode.rpc, h)
	return realNode.rpc
}

func genesisFile() string { return filepath.Join(realNode.home, "config", "genesis.json") }

// waitNodeHeight polls addr until it has committed height h (30 s at most).
func waitNodeHeight(tb testing.TB, addr string, h int64) int64 {
	tb.Helper()
	c, err := rpchttp.New(addr)
	if err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := c.Status(ctx)
		cancel()
		if err == nil && st.SyncInfo.LatestBlockHeight >= h {
			return st.SyncInfo.LatestBlockHeight
		}
		if time.Now().After(deadline) {
			tb.Fatalf("node %s not at height %d within 30s (last error: %v)", addr, h, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// commitHash is the hash of the header of height h as addr serves it.
func commitHash(tb testing.TB, addr string, h int64) []byte {
	tb.Helper()
	c, err := rpchttp.New(addr)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.Commit(ctx, &h)
	if err != nil {
		tb.Fatalf("commit %d: %v", h, err)
	}
	return res.SignedHeader.Hash()
}

func newProxy(tb testing.TB, up string) *rpcforge.Proxy {
	tb.Helper()
	p, err := rpcforge.New(up, rpcforge.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// heightRecorder records the heights of the calls of a method a proxy
// relays (the height parameter; 0 when absent: the latest).
type heightRecorder struct {
	mu      sync.Mutex
	heights []int64
}

func (r *heightRecorder) record(p *rpcforge.Proxy, method string) {
	p.ForgeCall(method, func(c rpcforge.Call, _ json.RawMessage) json.RawMessage {
		var params map[string]json.RawMessage
		var h int64
		if json.Unmarshal(c.Params, &params) == nil {
			_, _ = fmt.Sscan(strings.Trim(string(params["height"]), `"`), &h)
		}
		r.mu.Lock()
		r.heights = append(r.heights, h)
		r.mu.Unlock()
		return nil // unchanged
	})
}

func (r *heightRecorder) has(h int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.heights {
		if x == h {
			return true
		}
	}
	return false
}

func (r *heightRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.heights)
}

// TestTrustFromGenesisPersists: a Trust rooted in the genesis validator
// set checks the primary's block 1 against it and verifies later headers
// (the hash is the node's own header's); without a witness it says so.
// The store it writes is the root of the next Trust on the same directory:
// that one does not ask for block 1 again and still verifies new headers.
// With a witness (another address of the same validator) the header is
// cross-checked: the witness is asked too.
func TestTrustFromGenesisPersists(t *testing.T) {
	rpc := startNode(t, 3)
	primary := newProxy(t, rpc)
	var commits heightRecorder
	commits.record(primary, "commit")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	tr, err := client.NewTrust(ctx, client.TrustOptions{Genesis: genesisFile(), Primary: primary.URL(), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !commits.has(1) {
		t.Errorf("a Trust rooted in the genesis did not ask its primary for block 1 (commit heights asked: %s)", &commits)
	}
	if tr.ChainID() != "client-trust-test" || !strings.Contains(tr.Root(), "genesis validator set") {
		t.Errorf("chain id %q, root %q", tr.ChainID(), tr.Root())
	}
	if note := tr.WitnessNote(); !strings.Contains(note, "no witness") || !strings.Contains(note, "--witness") {
		t.Errorf("WitnessNote without witnesses = %q; want a warning naming --witness", note)
	}
	h := waitNodeHeight(t, rpc, 4)
	sh, err := tr.Header(ctx, h)
	if err != nil {
		t.Fatalf("Header(%d): %v", h, err)
	}
	if want := commitHash(t, rpc, h); !bytes.Equal(sh.Hash(), want) || sh.Height != h {
		t.Fatalf("Header(%d) = height %d hash %X; the node's header is %X", h, sh.Height, sh.Hash(), want)
	}
	if _, err := tr.Header(ctx, 0); err == nil {
		t.Error("Header(0) succeeded")
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}

	// A second Trust on the same store: rooted in what the first verified.
	commits = heightRecorder{}
	commits.record(primary, "commit")
	primary.ResetCounts()
	tr2, err := client.NewTrust(ctx, client.TrustOptions{Genesis: genesisFile(), Primary: primary.URL(), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	if commits.has(1) {
		t.Errorf("the second Trust on the same store asked for block 1 again (commit heights asked: %s); it should start from the stored headers", &commits)
	}
	h2 := waitNodeHeight(t, rpc, h+2)
	sh2, err := tr2.Header(ctx, h2)
	if err != nil {
		t.Fatalf("second Trust: Header(%d): %v", h2, err)
	}
	if want := commitHash(t, rpc, h2); !bytes.Equal(sh2.Hash(), want) {
		t.Fatalf("second Trust: Header(%d) hash %X; the node's is %X", h2, sh2.Hash(), want)
	}
	// A stored header is served from the store: no request for it.
	commits = heightRecorder{}
	commits.record(primary, "commit")
	if sh, err := tr2.Header(ctx, h); err != nil || !bytes.Equal(sh.Hash(), commitHash(t, rpc, h)) {
		t.Fatalf("second Trust: stored Header(%d): %v", h, err)
	}
	if commits.has(h) {
		t.Errorf("Header(%d), verified and stored by the first Trust, was fetched again (commit heights: %s)", h, &commits)
	}
	t.Logf("first Trust: block 1 checked against the genesis, header %d verified; second Trust: from the store, header %d verified; commit requests of the second: %s", h, h2, &commits)

	// With a witness: no warning, and the witness is asked.
	witness := newProxy(t, rpc)
	tr3, err := client.NewTrust(ctx, client.TrustOptions{Genesis: genesisFile(), Primary: primary.URL(), Witnesses: []string{witness.URL(), primary.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr3.Close()
	if note := tr3.WitnessNote(); note != "" {
		t.Errorf("WitnessNote with a witness = %q; want none", note)
	}
	h3 := waitNodeHeight(t, rpc, h2+1)
	if _, err := tr3.Header(ctx, h3); err != nil {
		t.Fatalf("with a witness: Header(%d): %v", h3, err)
	}
	if n := witness.Count("commit"); n == 0 {
		t.Errorf("the witness was never asked for a header (counts %v)", witness.Counts())
	}
}

// TestTrustFromTrustedHeader: a Trust rooted in a header named by height
// and hash verifies later headers; a wrong hash is refused as a root that
// does not match.
func TestTrustFromTrustedHeader(t *testing.T) {
	rpc := startNode(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hash := commitHash(t, rpc, 2)
	tr, err := client.NewTrust(ctx, client.TrustOptions{Height: 2, Hash: hash, ChainID: "client-trust-test", Primary: rpc})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	h := waitNodeHeight(t, rpc, 4)
	if sh, err := tr.Header(ctx, h); err != nil || !bytes.Equal(sh.Hash(), commitHash(t, rpc, h)) {
		t.Fatalf("Header(%d) from trusted header 2: %v", h, err)
	}
	if !strings.Contains(tr.Root(), fmt.Sprintf("header 2 (%X)", hash)) {
		t.Errorf("Root() = %q", tr.Root())
	}

	bad := bytes.Clone(hash)
	bad[0] ^= 0xff
	_, err = client.NewTrust(ctx, client.TrustOptions{Height: 2, Hash: bad, Genesis: genesisFile(), Primary: rpc})
	if err == nil {
		t.Fatal("a Trust rooted in a hash the node's header 2 does not have was created")
	}
	if !errors.Is(err, client.ErrTrustRoot) || !strings.Contains(err.Error(), fmt.Sprintf("%X", bad)) {
		t.Errorf("wrong trusted hash: %v; want ErrTrustRoot naming the trusted hash", err)
	}
	t.Logf("wrong trusted hash: %v", err)
}

// TestTrustOptionsErrors: options that cannot make a root of trust are
// refused before any request, with a message saying what is expected.
func TestTrustOptionsErrors(t *testing.T) {
	ctx := context.Background()
	// Nothing listens there: these must fail before asking.
	primary := "tcp://" + loopbackAddr(t)
	dir := t.TempDir()
	gen := filepath.Join(dir, "genesis.json")
	// A genesis with no validators.
	if err := os.WriteFile(gen, []byte(`{"genesis_time":"2024-01-01T00:00:00Z","chain_id":"x","initial_height":"1","app_hash":""}`), 0o600); err != nil {
		t.Fatal(err)
	}
	many := make([]string, client.MaxWitnesses+1)
	for i := range many {
		many[i] = fmt.Sprintf("tcp://127.0.0.1:%d", 1000+i)
	}
	hash := bytes.Repeat([]byte{1}, 32)
	for _, tc := range []struct {
		name string
		o    client.TrustOptions
		is   error
		want []string
	}{
		{"no root", client.TrustOptions{Primary: primary}, client.ErrNoTrust, []string{"genesis file", "--trust-height"}},
		{"short hash", client.TrustOptions{Primary: primary, Height: 5, Hash: []byte{1, 2, 3}, ChainID: "x"}, nil, []string{"32-byte header hash", "64 hex"}},
		{"hash without height", client.TrustOptions{Primary: primary, Hash: hash, ChainID: "x"}, nil, []string{"height above 0", "both or neither"}},
		{"height without hash", client.TrustOptions{Primary: primary, Height: 5, ChainID: "x"}, nil, []string{"32-byte header hash"}},
		{"header without chain id", client.TrustOptions{Primary: primary, Height: 5, Hash: hash}, nil, []string{"needs the chain id"}},
		{"missing genesis", client.TrustOptions{Primary: primary, Genesis: filepath.Join(dir, "nope.json")}, nil, []string{"nope.json"}},
		{"genesis without validators", client.TrustOptions{Primary: primary, Genesis: gen}, nil, []string{"lists no validators", "--trust-height"}},
		{"chain id differs from genesis", client.TrustOptions{Primary: primary, Genesis: gen, ChainID: "y"}, nil, []string{`chain id "y" differs`}},
		{"negative period", client.TrustOptions{Primary: primary, Genesis: gen, Period: -time.Hour}, nil, []string{"must be positive"}},
		{"too many witnesses", client.TrustOptions{Primary: primary, Genesis: gen, Witnesses: many}, nil, []string{"witnesses; the limit is 16"}},
		{"bad primary", client.TrustOptions{Primary: "ftp://x", Genesis: gen}, nil, []string{"primary"}},
	} {
		started := time.Now()
		tr, err := client.NewTrust(ctx, tc.o)
		if err == nil {
			tr.Close()
			t.Errorf("%s: NewTrust succeeded", tc.name)
			continue
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v; want it to wrap %v", tc.name, err, tc.is)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
		if d := time.Since(started); d > 2*time.Second {
			t.Errorf("%s: took %s; options errors need no request", tc.name, d)
		}
	}
}

// TestProofThroughForgingProxy: with a Trust, a proven query through a
// proxy that forges the stored record, the proof, or the JSON view is
// refused with ErrProofInvalid; unforged, it verifies.
func TestProofThroughForgingProxy(t *testing.T) {
	rpc := startNode(t, 3)
	p := newProxy(t, rpc)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.New(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ProvenParams(ctx); !errors.Is(err, client.ErrNoTrust) {
		t.Fatalf("ProvenParams without a trust: %v; want ErrNoTrust", err)
	}
	tr, err := client.NewTrust(ctx, client.TrustOptions{Genesis: genesisFile(), Primary: rpc})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c.SetTrust(tr)
	real, pr, err := c.ProvenParams(ctx)
	if err != nil {
		t.Fatalf("unforged ProvenParams: %v", err)
	}
	t.Logf("params proven at height %d against app hash %X", pr.Height, pr.AppHash)

	for _, tc := range []struct {
		name string
		set  func()
		want string
	}{
		{"proven record changed", func() {
			p.ForgeQuery(func(q rpcforge.QueryRequest, r *abci.QueryResponse) {
				if q.Path == "/params" && q.Prove && r.Code == 0 {
					var pp types.Params
					if pp.Unmarshal(r.Value) == nil {
						pp.DownAfterMs++
						r.Value, _ = pp.Marshal()
					}
				}
			})
		}, "membership of the value is not proven"},
		{"proof of another key", func() {
			p.ForgeQuery(func(q rpcforge.QueryRequest, r *abci.QueryResponse) {
				if q.Path == "/params" && q.Prove && r.Code == 0 && r.ProofOps != nil {
					r.Key = []byte("nodes/x")
					r.ProofOps.Ops[0].Key = r.Key
				}
			})
		}, `stored under "params"`},
		{"proof dropped", func() {
			p.ForgeQuery(func(q rpcforge.QueryRequest, r *abci.QueryResponse) {
				if q.Prove {
					r.ProofOps = nil
				}
			})
		}, "0 proof operations"},
		{"JSON view changed", func() {
			rpcforge.ForgePath(p, "/params", func(v *api.ParamsView) { v.SuspectAfterMs += 1000 })
		}, "JSON answer disagrees with the record proven"},
	} {
		tc.set()
		_, _, err := c.ProvenParams(ctx)
		p.ClearRules()
		if !errors.Is(err, client.ErrProofInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want ErrProofInvalid saying %q", tc.name, err, tc.want)
			continue
		}
		t.Logf("%s: refused: %v", tc.name, err)
	}
	again, _, err := c.ProvenParams(ctx)
	if err != nil || again != real {
		t.Fatalf("unforged again: %v (%+v, before %+v)", err, again, real)
	}
}

// BenchmarkQueryVerifiedVsPlain: the cost of a verified answer against an
// unverified one, from one run on one node (200 ms blocks).
//
//   - plain: Query of /params (one abci_query, JSON, nothing checked);
//   - proven-latest: ProvenParams (JSON and stored record with its proof,
//     then the next header, which is not committed yet: it waits for the
//     next block and has the light client verify it);
//   - proof-at-known-height: QueryProofAt at a height whose next header
//     the Trust already verified and stored (one abci_query with proof and
//     an ics23 verification; the header comes from the store);
//   - proof-new-header: QueryProofAt at committed heights whose next
//     header the Trust has not verified yet (the proof, plus the light
//     client fetching and verifying that header: commit and validator
//     set), without waiting for a block.
func BenchmarkQueryVerifiedVsPlain(b *testing.B) {
	rpc := startNode(b, 3)
	ctx := context.Background()
	c, err := client.New(rpc)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := client.NewTrust(ctx, client.TrustOptions{Genesis: genesisFile(), Primary: rpc})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	c.SetTrust(tr)
	b.Run("plain", func(b *testing.B) {
		var v api.ParamsView
		for b.Loop() {
			if _, err := c.Query(ctx, "/params", &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proven-latest", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := c.ProvenParams(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proof-new-header", func(b *testing.B) {
		if b.N > 100 {
			b.Skipf("needs a new block per iteration: run with -benchtime 20x (b.N is %d)", b.N)
		}
		b.StopTimer()
		last, err := tr.Header(ctx, waitNodeHeight(b, rpc, 2))
		if err != nil {
			b.Fatal(err)
		}
		from := last.Height
		waitNodeHeight(b, rpc, from+int64(b.N)+1)
		b.StartTimer()
		for i := range b.N {
			if _, err := c.QueryProofAt(ctx, "/params", from+int64(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proof-at-known-height", func(b *testing.B) {
		h := waitNodeHeight(b, rpc, 3) - 1
		if _, err := tr.Header(ctx, h+1); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := c.QueryProofAt(ctx, "/params", h); err != nil {
				b.Fatal(err)
			}
		}
	})
}
