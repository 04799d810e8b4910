package abci

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/phalanx-bft/phalanx/types"
)

// BenchmarkEd25519Verify is crypto/ed25519's verification (app version 1);
// BenchmarkVerify (sigverify_bench_test.go) is the one CheckTx does now.
func BenchmarkEd25519Verify(b *testing.B) {
	k := key("admin")
	msg := make([]byte, 120)
	sig := ed25519.Sign(k, msg)
	pk := pub(k)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !ed25519.Verify(pk, msg, sig) {
			b.Fatal("verify failed")
		}
	}
}

// BenchmarkCheckTx measures admitting one signed CordonNode transaction
// to the mempool: decode, signature, chain id, sequence, role.
func BenchmarkCheckTx(b *testing.B) {
	a := newApp(b, b.TempDir())
	// One signer with b.N pending: the budget (ADR 0015) is lifted so the
	// loop measures the check, not the refusal.
	a.cfg.SignerPendingTxs, a.cfg.SignerPendingBytes = b.N+1, 1<<40
	admin := key("admin")
	txs := make([][]byte, b.N)
	for i := range txs {
		txs[i] = signTx(b, admin, cordon(testChain, uint64(i), "n1"))
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, _ := a.CheckTx(ctx, &abcitypes.CheckTxRequest{Tx: txs[i], Type: abcitypes.CHECK_TX_TYPE_CHECK})
		if r.Code != 0 {
			b.Fatalf("tx %d: %s", i, r.Log)
		}
	}
}

// BenchmarkCheckTxEquivocation measures CheckTx of a ReportEquivocation
// (ADR 0014): the evidence is verified in full before admission, three
// ed25519 verifications (the report's and its two transactions').
func BenchmarkCheckTxEquivocation(b *testing.B) {
	a := newApp(b, b.TempDir())
	admin, n1 := key("admin"), key("n1")
	if res, _ := commitBlock(b, a, 1, [][]byte{signTx(b, admin, register(testChain, 0, "n1", n1, "a"))}); res.TxResults[0].Code != 0 {
		b.Fatal(res.TxResults[0].Log)
	}
	a.cfg.SignerPendingTxs, a.cfg.SignerPendingBytes = b.N+1, 1<<40 // one signer sends them all
	txs := make([][]byte, b.N)
	for i := range txs {
		// Distinct evidence each time: no inner signature is in the cache.
		hb := uint64(5 + i)
		txA, txB := signTx(b, n1, heartbeat(testChain, 9, "n1", hb, 1)), signTx(b, n1, heartbeat(testChain, 9, "n1", hb, 2))
		txs[i] = evidence(b, admin, uint64(i+1), txA, txB)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, _ := a.CheckTx(ctx, &abcitypes.CheckTxRequest{Tx: txs[i], Type: abcitypes.CHECK_TX_TYPE_CHECK})
		if r.Code != 0 {
			b.Fatalf("tx %d: %s", i, r.Log)
		}
	}
}

// BenchmarkFinalizeCommit measures FinalizeBlock + Commit per transaction
// for blocks of heartbeats from registered nodes (the dominant traffic).
// One op is one transaction.
//
// cold: signatures are verified in FinalizeBlock (a validator that saw the
// transactions for the first time in the decided block). checked: the
// transactions went through CheckTx or ProcessProposal first, as on every
// validator of a live network, so FinalizeBlock finds their signatures in
// the cache (the CheckTx cost is measured by BenchmarkCheckTx).
func BenchmarkFinalizeCommit(b *testing.B) {
	for _, bc := range []struct {
		perBlock int
		checked  bool
	}{{100, false}, {1000, false}, {100, true}, {1000, true}} {
		mode := "cold"
		if bc.checked {
			mode = "checked"
		}
		perBlock := bc.perBlock
		b.Run(fmt.Sprintf("%s/txs=%d", mode, perBlock), func(b *testing.B) {
			a := newApp(b, b.TempDir())
			admin := key("admin")
			nodes := make([]ed25519.PrivateKey, perBlock)
			var reg [][]byte
			for i := range nodes {
				nodes[i] = key(fmt.Sprintf("bench-node-%d", i))
				reg = append(reg, signTx(b, admin, register(testChain, uint64(i), fmt.Sprintf("n%d", i), nodes[i], "a")))
			}
			commitBlock(b, a, 1, reg)
			blocks := (b.N + perBlock - 1) / perBlock
			all := make([][][]byte, blocks)
			for h := range all {
				for i := 0; i < perBlock; i++ {
					body := &types.TxBody{ChainId: testChain, Sequence: uint64(h), Msg: &types.TxBody_Heartbeat{Heartbeat: &types.Heartbeat{
						NodeId: fmt.Sprintf("n%d", i), Seq: uint64(h + 1), Usage: types.Resources{CpuMillis: 100, MemoryMb: 100},
					}}}
					all[h] = append(all[h], signTx(b, nodes[i], body))
				}
			}
			if bc.checked {
				for _, txs := range all {
					for _, raw := range txs {
						if _, err := a.decode(raw); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.ResetTimer()
			for h, txs := range all {
				res, _ := commitBlock(b, a, int64(h+2), txs)
				if res.TxResults[0].Code != 0 {
					b.Fatalf("heartbeat failed: %s", res.TxResults[0].Log)
				}
			}
		})
	}
}

// proposalTxs is a mempool of n transactions: 90 % heartbeats from
// distinct node keys, 10 % cordons from the admin, listed with the
// admin's sequences in reverse (the worst case for the per-signer sort).
func proposalTxs(b testing.TB, n int) [][]byte {
	b.Helper()
	admin := key("admin")
	var txs [][]byte
	nAdmin := n / 10
	for i := 0; i < n; i++ {
		if i%10 == 0 && nAdmin > 0 {
			nAdmin--
			txs = append(txs, signTx(b, admin, cordon(testChain, uint64(nAdmin), "n1")))
			continue
		}
		node := fmt.Sprintf("n%d", i)
		txs = append(txs, signTx(b, key(node), &types.TxBody{ChainId: testChain,
			Msg: &types.TxBody_Heartbeat{Heartbeat: &types.Heartbeat{NodeId: node, Seq: 1}}}))
	}
	return txs
}

// BenchmarkPrepareProposal measures PrepareProposal per transaction
// (decode with cached signatures, per-signer sort, health first, byte
// budget) on blocks of 1,000 and 5,000 transactions. One op is one
// transaction.
func BenchmarkPrepareProposal(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("txs=%d", n), func(b *testing.B) {
			a := newApp(b, b.TempDir())
			txs := proposalTxs(b, n)
			ctx := context.Background()
			req := &abcitypes.PrepareProposalRequest{Txs: txs, MaxTxBytes: 4 << 20, Height: 2}
			if r, _ := a.PrepareProposal(ctx, req); len(r.Txs) != n { // warms the signature cache
				b.Fatalf("prepared %d of %d", len(r.Txs), n)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i += n {
				_, _ = a.PrepareProposal(ctx, req)
			}
		})
	}
}

// BenchmarkProcessProposal measures ProcessProposal per transaction on the
// block PrepareProposal built (signatures cached, as on a validator that
// saw the transactions in its mempool). One op is one transaction.
func BenchmarkProcessProposal(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("txs=%d", n), func(b *testing.B) {
			a := newApp(b, b.TempDir())
			ctx := context.Background()
			prep, _ := a.PrepareProposal(ctx, &abcitypes.PrepareProposalRequest{Txs: proposalTxs(b, n), MaxTxBytes: 4 << 20, Height: 2})
			req := &abcitypes.ProcessProposalRequest{Txs: prep.Txs, Height: 2}
			if r, _ := a.ProcessProposal(ctx, req); r.Status != abcitypes.PROCESS_PROPOSAL_STATUS_ACCEPT {
				b.Fatal("the prepared block is rejected")
			}
			b.ResetTimer()
			for i := 0; i < b.N; i += n {
				_, _ = a.ProcessProposal(ctx, req)
			}
		})
	}
}
