package abci

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/phalanx-bft/phalanx/types"
)

// BenchmarkFinalizeUnderQueries measures FinalizeBlock + Commit latency
// (one op is one block of 500 heartbeats, signatures already verified as
// on a live validator) in a cluster of 500 nodes and 5,000 tasks while a
// client loop queries pages of 1,000 tasks and 500 nodes back to back:
//
//	no-queries:   nobody queries (the baseline);
//	locked-lists: each query answers a whole list (5,000 tasks or 500
//	              nodes) from the consensus state under the consensus
//	              lock, as the unpaged queries did before issue 9;
//	locked-pages: pages of at most 1,000, still under the consensus lock;
//	view:         pages through Application.Query, which answers from the
//	              query view and holds no consensus lock.
//
// Reported: p50 and p99 block latency (ms), and the queries answered per
// second of the run.
func BenchmarkFinalizeUnderQueries(b *testing.B) {
	for _, mode := range []string{"no-queries", "locked-lists", "locked-pages", "view"} {
		b.Run(mode, func(b *testing.B) { benchFinalizeUnderQueries(b, mode) })
	}
}

func benchFinalizeUnderQueries(b *testing.B, mode string) {
	const nodes, workloads, replicas = 500, 5, 1000
	a := newApp(b, b.TempDir())
	b.Cleanup(func() { _ = a.Close() })
	admin := key("admin")
	seq := uint64(0)
	adminTx := func(body *types.TxBody) []byte {
		body.ChainId, body.Sequence = testChain, seq
		seq++
		return signTx(b, admin, body)
	}
	height := int64(1)
	commit := func(txs [][]byte) {
		res, _ := commitBlock(b, a, height, txs)
		for i, r := range res.TxResults {
			if r.Code != 0 {
				b.Fatalf("height %d tx %d: code %d: %s", height, i, r.Code, r.Log)
			}
		}
		height++
	}
	p := a.state.Params()
	p.MaxPlacementsPerBlock = 1000
	var setup [][]byte
	setup = append(setup, adminTx(&types.TxBody{Msg: &types.TxBody_UpdateParams{UpdateParams: &types.UpdateParams{Params: p}}}))
	keys := make([]ed25519.PrivateKey, nodes)
	for i := range keys {
		keys[i] = key(fmt.Sprintf("q-node-%d", i))
		body := register(testChain, 0, fmt.Sprintf("n%03d", i), keys[i], fmt.Sprintf("z%d", i%3))
		body.GetRegisterNode().Capacity = types.Resources{CpuMillis: 64_000, MemoryMb: 1 << 20}
		setup = append(setup, adminTx(body))
	}
	for w := 0; w < workloads; w++ {
		setup = append(setup, adminTx(&types.TxBody{Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: types.WorkloadSpec{
			Name: fmt.Sprintf("w%d", w), Command: "run", Replicas: replicas, Resources: types.Resources{CpuMillis: 10, MemoryMb: 10}}}}}))
	}
	commit(setup)
	hbSeq := uint64(0)
	heartbeats := func() [][]byte {
		txs := make([][]byte, nodes)
		for i, k := range keys {
			txs[i] = signTx(b, k, &types.TxBody{ChainId: testChain, Sequence: hbSeq, Msg: &types.TxBody_Heartbeat{Heartbeat: &types.Heartbeat{
				NodeId: fmt.Sprintf("n%03d", i), Seq: hbSeq + 1}}})
			if _, err := a.decode(txs[i]); err != nil { // verified, as CheckTx would have
				b.Fatal(err)
			}
		}
		hbSeq++
		return txs
	}
	for i := 0; i < workloads+1; i++ { // place every task
		commit(heartbeats())
	}
	if n := a.state.Params().MaxPlacementsPerBlock; n != 1000 {
		b.Fatalf("max_placements_per_block %d", n)
	}
	blocks := make([][][]byte, b.N)
	for i := range blocks {
		blocks[i] = heartbeats()
	}

	var stop atomic.Bool
	var answered atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	if mode != "no-queries" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths := []string{"/tasks?limit=1000", "/nodes?limit=500", "/tasks?limit=1000&after=w2/499"}
			for i := 0; !stop.Load(); i++ {
				path := paths[i%len(paths)]
				if mode != "view" {
					a.mu.Lock()
					err := lockedQuery(a, path, mode == "locked-lists")
					a.mu.Unlock()
					if err != nil {
						failed.CompareAndSwap(nil, err.Error())
						return
					}
				} else if r, _ := a.Query(context.Background(), &abcitypes.QueryRequest{Path: path}); r.Code != 0 {
					failed.CompareAndSwap(nil, fmt.Sprintf("query %s: code %d: %s", path, r.Code, r.Log))
					return
				}
				answered.Add(1)
			}
		}()
	}
	lat := make([]time.Duration, 0, b.N)
	start := time.Now()
	b.ResetTimer()
	for _, txs := range blocks {
		t0 := time.Now()
		commit(txs)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	if msg := failed.Load(); msg != nil {
		b.Fatal(msg)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(answered.Load())/elapsed.Seconds(), "queries/s")
}

// lockedQuery answers path from the consensus state (the caller holds
// a.mu); whole follows the next cursors to the end of the list, as one
// unpaged answer did.
func lockedQuery(a *Application, path string, whole bool) error {
	for {
		out, err := a.state.Query(path)
		if err != nil || !whole {
			return err
		}
		var page struct{ Next string }
		if err := json.Unmarshal(out, &page); err != nil {
			return err
		}
		if page.Next == "" {
			return nil
		}
		base, _, _ := strings.Cut(path, "&after=")
		path = base + "&after=" + url.QueryEscape(page.Next)
	}
}
