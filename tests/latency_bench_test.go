package tests

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/networks"
	"github.com/phalanx-bft/phalanx/types"
)

// BenchmarkTestnetCommitLatency measures, on a real 4-validator network of
// OS processes on loopback (what `make localnet` runs): the time from
// `testnet start` to the first block on all four, the block interval from
// header times, and the commit latency of transactions (broadcast_tx_commit
// round trip, one at a time) at block time 1s (the default) and 200ms.
//
//	go test ./tests -run '^$' -bench TestnetCommitLatency -benchtime 1x
func BenchmarkTestnetCommitLatency(b *testing.B) {
	for _, bt := range []time.Duration{time.Second, 200 * time.Millisecond} {
		b.Run("block_time="+bt.String(), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				measureTestnet(b, bt, 60)
			}
		})
	}
}

func measureTestnet(b *testing.B, blockTime time.Duration, txs int) {
	base, err := networks.FindFreeBasePort(4, 0)
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "net")
	m, err := networks.InitTestnet(networks.InitOptions{Dir: dir, ChainID: "bench-net", Validators: 4, BasePort: base, BlockTime: blockTime, NoMetrics: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	started := time.Now()
	net, err := networks.Start(ctx, m, networks.StartOptions{Binary: binary, WaitHeight: 1, Timeout: 60 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	firstBlock := time.Since(started)
	defer func() { _, _ = networks.Stop(context.Background(), m, networks.StopOptions{}) }()
	_ = net // the validators run detached; Stop ends them

	kr, err := keyring.New(dir, keyring.BackendTest, nil)
	if err != nil {
		b.Fatal(err)
	}
	admin, err := kr.Signer("admin")
	if err != nil {
		b.Fatal(err)
	}
	c, err := rpchttp.New(m.Validators[0].RPC)
	if err != nil {
		b.Fatal(err)
	}
	startHeight := heightNow(b, m.Validators[0].RPC)
	lat := make([]time.Duration, 0, txs)
	for seq := 0; seq < txs; seq++ {
		id := fmt.Sprintf("lat-%d", seq)
		raw := signedTx(b, admin, &types.TxBody{ChainId: "bench-net", Sequence: uint64(seq), Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
			NodeId: id, PubKey: nodePub(id), Zone: "a", Capacity: types.Resources{CpuMillis: 1000, MemoryMb: 1024},
		}}})
		t0 := time.Now()
		res, err := c.BroadcastTxCommit(ctx, raw)
		if err != nil {
			b.Fatal(err)
		}
		if res.CheckTx.Code != 0 || res.TxResult.Code != 0 {
			b.Fatalf("tx %d: %s %s", seq, res.CheckTx.Log, res.TxResult.Log)
		}
		lat = append(lat, time.Since(t0))
	}
	endHeight := heightNow(b, m.Validators[0].RPC) // an RPC error fails, never reads as height 0
	var intervals []time.Duration
	var prev time.Time
	for h := startHeight; h <= endHeight; h++ {
		hh := h
		hdr, err := c.Header(ctx, &hh)
		if err != nil {
			b.Fatal(err)
		}
		if !prev.IsZero() {
			intervals = append(intervals, hdr.Header.Time.Sub(prev))
		}
		prev = hdr.Header.Time
	}
	b.ReportMetric(firstBlock.Seconds(), "s-to-first-block")
	b.ReportMetric(pct(intervals, 50).Seconds()*1000, "ms-block-interval-p50")
	b.ReportMetric(pct(intervals, 99).Seconds()*1000, "ms-block-interval-p99")
	b.ReportMetric(pct(lat, 50).Seconds()*1000, "ms-commit-p50")
	b.ReportMetric(pct(lat, 99).Seconds()*1000, "ms-commit-p99")
	b.Logf("block time %s: first block after %s; %d blocks, interval p50 %s p99 %s; %d txs, commit latency p50 %s p99 %s",
		blockTime, firstBlock.Round(time.Millisecond), len(intervals), pct(intervals, 50), pct(intervals, 99), len(lat), pct(lat, 50), pct(lat, 99))
}

// pct is the p-th percentile (nearest rank).
func pct(xs []time.Duration, p int) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return s[max(0, min(i, len(s)-1))]
}
