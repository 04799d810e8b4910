package abci

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// BenchmarkVerify is one verification of the kind CheckTx does (a
// CordonNode by a known signer, crypto.Verify), each of a different
// signature: the bare cost BenchmarkCheckTx is compared with (ADR 0017:
// CheckTx ≤ 1.2× it; BenchmarkCheckTxVsVerify compares the two in one
// loop).
func BenchmarkVerify(b *testing.B) {
	admin := key("admin")
	pk := pub(admin)
	bodies, sigs := make([][]byte, b.N), make([][]byte, b.N)
	for i := range bodies {
		body, err := cordon(testChain, uint64(i), "n1").Marshal()
		if err != nil {
			b.Fatal(err)
		}
		bodies[i], sigs[i] = body, crypto.Sign(admin, body)
	}
	crypto.Verify(pk, bodies[0], sigs[0]) // its expanded key cached, as in CheckTx's loop
	b.ResetTimer()
	for i := range bodies {
		if !crypto.Verify(pk, bodies[i], sigs[i]) {
			b.Fatal("verify failed")
		}
	}
}

// stdlibVerify is app version 1's verifier, the baseline of
// BenchmarkBlockSignatures.
func stdlibVerify(pub, body, sig []byte) bool {
	return len(pub) == crypto.PubKeyLen && ed25519.Verify(pub, crypto.SignBytes(body), sig)
}

// BenchmarkBlockSignatures measures ProcessProposal and FinalizeBlock of
// blocks of 1,000 heartbeats by 1,000 registered nodes, cold: the
// signature cache is empty (a validator whose mempool admitted none of
// them), the expanded keys of the nodes known (they heartbeat every few
// blocks). One op is one block given to three applications, one per
// variant, back to back (so they see the same load on a shared
// machine); it reports each one's median and fastest block, in ms:
//
//   - stdlib: app version 1, each signature verified alone with
//     crypto/ed25519 where the decoding meets it;
//   - voi: the same with crypto.Verify (ZIP-215, curve25519-voi);
//   - batch: crypto.VerifyBatch in batches on GOMAXPROCS workers first
//     (sigverify.go), what ships.
func BenchmarkBlockSignatures(b *testing.B) {
	const n = 1000
	admin := key("admin")
	nodes := make([]ed25519.PrivateKey, n)
	var reg [][]byte
	for i := range nodes {
		nodes[i] = key(fmt.Sprintf("bench-node-%d", i))
		reg = append(reg, signTx(b, admin, register(testChain, uint64(i), fmt.Sprintf("n%d", i), nodes[i], "a")))
	}
	block := func(h int) [][]byte {
		txs := make([][]byte, n)
		for i := range txs {
			body := &types.TxBody{ChainId: testChain, Sequence: uint64(h), Msg: &types.TxBody_Heartbeat{Heartbeat: &types.Heartbeat{
				NodeId: fmt.Sprintf("n%d", i), Seq: uint64(h + 1), Usage: types.Resources{CpuMillis: 100, MemoryMb: 100},
			}}}
			txs[i] = signTx(b, nodes[i], body)
		}
		return txs
	}
	variants := []struct {
		name    string
		verify  func(pub, body, sig []byte) bool
		batch   bool
		app     *Application
		pp, fin []time.Duration
	}{{name: "stdlib", verify: stdlibVerify}, {name: "voi", verify: crypto.Verify}, {name: "batch", verify: crypto.Verify, batch: true}}
	for i := range variants {
		v := &variants[i]
		v.app = newApp(b, b.TempDir())
		v.app.noPreverify = !v.batch
		commitBlock(b, v.app, 1, reg)
	}
	for i := range nodes { // the nodes' expanded keys cached
		crypto.Verify(pub(nodes[i]), []byte{}, make([]byte, crypto.SignatureLen))
	}
	blocks := make([][][]byte, b.N)
	for h := range blocks {
		blocks[h] = block(h)
	}
	ctx := context.Background()
	b.ResetTimer()
	for h, txs := range blocks {
		for i := range variants {
			v := &variants[i]
			v.app.sigs = newSigCache()
			v.app.sigs.verifyOne = v.verify
			t0 := time.Now()
			if r, _ := v.app.ProcessProposal(ctx, &abcitypes.ProcessProposalRequest{Txs: txs, Height: int64(h + 2)}); r.Status != abcitypes.PROCESS_PROPOSAL_STATUS_ACCEPT {
				b.Fatalf("%s: block %d rejected", v.name, h+2)
			}
			v.pp = append(v.pp, time.Since(t0))
			v.app.sigs = newSigCache()
			v.app.sigs.verifyOne = v.verify
			t0 = time.Now()
			res, err := v.app.FinalizeBlock(ctx, &abcitypes.FinalizeBlockRequest{Txs: txs, Height: int64(h + 2), Hash: make([]byte, 32)})
			v.fin = append(v.fin, time.Since(t0))
			if err != nil || res.TxResults[0].Code != 0 {
				b.Fatalf("%s: block %d: %v %v", v.name, h+2, err, res.TxResults[0].Log)
			}
			if _, err := v.app.Commit(ctx, &abcitypes.CommitRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for _, v := range variants {
		slices.Sort(v.pp)
		slices.Sort(v.fin)
		b.ReportMetric(ms(v.pp[len(v.pp)/2]), "pp-"+v.name+"-median-ms")
		b.ReportMetric(ms(v.pp[0]), "pp-"+v.name+"-min-ms")
		b.ReportMetric(ms(v.fin[len(v.fin)/2]), "fin-"+v.name+"-median-ms")
		b.ReportMetric(ms(v.fin[0]), "fin-"+v.name+"-min-ms")
	}
}

// BenchmarkCheckTxVsVerify compares CheckTx with the one verification it
// does, on a loaded machine: one op is one CheckTx (a CordonNode by one
// known signer, as BenchmarkCheckTx) followed by one crypto.Verify of
// another such transaction's signature, each timed, so the two see the
// same load. Every signature is verified once: a verifier run again on
// the same signature runs faster (its branches are learnt), which would
// flatter the baseline. It reports each one's median and lower decile
// and the ratio of the medians (ADR 0017: at most 1.2).
func BenchmarkCheckTxVsVerify(b *testing.B) {
	a := newApp(b, b.TempDir())
	a.cfg.SignerPendingTxs, a.cfg.SignerPendingBytes = b.N+1, 1<<40
	a.cfg.NonHealthPendingTxs, a.cfg.NonHealthPendingBytes = b.N+1, 1<<40
	admin := key("admin")
	pk := pub(admin)
	txs := make([][]byte, b.N)
	bodies, sigs := make([][]byte, b.N), make([][]byte, b.N)
	for i := range txs {
		txs[i] = signTx(b, admin, cordon(testChain, uint64(i), "n1"))
		body, err := cordon(testChain, uint64(i), "n2").Marshal()
		if err != nil {
			b.Fatal(err)
		}
		bodies[i], sigs[i] = body, crypto.Sign(admin, body)
	}
	crypto.Verify(pk, bodies[0], sigs[0]) // the signer's expanded key cached
	ctx := context.Background()
	check, verify := make([]time.Duration, b.N), make([]time.Duration, b.N)
	b.ResetTimer()
	for i, raw := range txs {
		t0 := time.Now()
		if res, _ := a.CheckTx(ctx, &abcitypes.CheckTxRequest{Tx: raw, Type: abcitypes.CHECK_TX_TYPE_CHECK}); res.Code != 0 {
			b.Fatal(res.Log)
		}
		t1 := time.Now()
		if !crypto.Verify(pk, bodies[i], sigs[i]) {
			b.Fatal("verify failed")
		}
		check[i], verify[i] = t1.Sub(t0), time.Since(t1)
	}
	b.StopTimer()
	slices.Sort(check)
	slices.Sort(verify)
	ns := func(d time.Duration) float64 { return float64(d.Nanoseconds()) }
	b.ReportMetric(ns(check[b.N/2]), "checktx-median-ns")
	b.ReportMetric(ns(check[b.N/10]), "checktx-p10-ns")
	b.ReportMetric(ns(verify[b.N/2]), "verify-median-ns")
	b.ReportMetric(ns(verify[b.N/10]), "verify-p10-ns")
	b.ReportMetric(ns(check[b.N/2])/ns(verify[b.N/2]), "ratio-median")
	b.ReportMetric(ns(check[b.N/10])/ns(verify[b.N/10]), "ratio-p10")
}
