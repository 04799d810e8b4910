package abci

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"runtime"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/phalanx-bft/phalanx/internal/testseed"
	"github.com/phalanx-bft/phalanx/types"
)

// sigBlocks returns a block registering n nodes, then a block of their
// heartbeats in which a seeded fraction carry a broken signature, plus
// a transaction that does not decode and one with a short signature.
func sigBlocks(t testing.TB, rng *rand.Rand, n int) (reg, hbs [][]byte, bad map[int]bool) {
	admin := key("admin")
	bad = map[int]bool{}
	for i := range n {
		id := fmt.Sprintf("n%d", i)
		reg = append(reg, signTx(t, admin, register(testChain, uint64(i), id, key(id), "a")))
		raw := signTx(t, key(id), heartbeat(testChain, 0, id, 1, 100))
		if rng.Intn(10) == 0 {
			raw = flipSig(t, raw)
			bad[len(hbs)] = true
		}
		hbs = append(hbs, raw)
	}
	short := types.Tx{BodyBytes: []byte{1}, PubKey: pub(admin), Signature: make([]byte, 10)}
	raw, err := short.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	bad[len(hbs)], bad[len(hbs)+1] = true, true
	hbs = append(hbs, []byte{0x0a, 0xff}, raw)
	return reg, hbs, bad
}

// TestPreverifyChangesNoOutcome checks that the batched, parallel
// pre-verification of a block's signatures (sigverify.go) changes no
// decision: on 1, 2 and 4 workers, ProcessProposal's verdicts and
// FinalizeBlock's results and app hash equal those of an application
// that verifies each signature alone as it meets it; and what it caches
// is exactly the signatures that verify.
func TestPreverifyChangesNoOutcome(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	testseed.Log(t, "./abci", seed)
	reg, hbs, bad := sigBlocks(t, rand.New(rand.NewSource(seed)), 300)
	var good [][]byte
	for i, raw := range hbs {
		if !bad[i] {
			good = append(good, raw)
		}
	}
	ctx := context.Background()
	run := func(a *Application) (statusBad, statusGood abcitypes.ProcessProposalStatus, res *abcitypes.FinalizeBlockResponse) {
		t.Helper()
		commitBlock(t, a, 1, reg)
		a.sigs = newSigCache() // cold: as a validator that saw none of them
		r, err := a.ProcessProposal(ctx, &abcitypes.ProcessProposalRequest{Txs: hbs, Height: 2})
		if err != nil {
			t.Fatal(err)
		}
		statusBad = r.Status
		a.sigs = newSigCache()
		if r, err = a.ProcessProposal(ctx, &abcitypes.ProcessProposalRequest{Txs: good, Height: 2}); err != nil {
			t.Fatal(err)
		}
		statusGood = r.Status
		a.sigs = newSigCache()
		res, _ = commitBlock(t, a, 2, hbs)
		return statusBad, statusGood, res
	}
	ref := newApp(t, t.TempDir())
	ref.noPreverify = true
	wantBad, wantGood, want := run(ref)
	if wantBad != abcitypes.PROCESS_PROPOSAL_STATUS_REJECT || wantGood != abcitypes.PROCESS_PROPOSAL_STATUS_ACCEPT {
		t.Fatalf("reference: a block with bad signatures is %v, one without is %v", wantBad, wantGood)
	}
	failed := 0
	for i, r := range want.TxResults {
		if (r.Code != 0) != bad[i] {
			t.Fatalf("reference: tx %d: code %d (%s), bad signature %v", i, r.Code, r.Log, bad[i])
		}
		if bad[i] {
			failed++
		}
	}
	t.Logf("%d transactions, %d refused", len(hbs), failed)

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 4} {
		runtime.GOMAXPROCS(procs)
		a := newApp(t, t.TempDir())
		gotBad, gotGood, got := run(a)
		if gotBad != wantBad || gotGood != wantGood {
			t.Errorf("GOMAXPROCS=%d: proposals %v and %v, want %v and %v", procs, gotBad, gotGood, wantBad, wantGood)
		}
		if !bytes.Equal(got.AppHash, want.AppHash) {
			t.Errorf("GOMAXPROCS=%d: app hash %X, want %X", procs, got.AppHash, want.AppHash)
		}
		for i := range want.TxResults {
			if g, w := got.TxResults[i], want.TxResults[i]; g.Code != w.Code || g.Log != w.Log || !bytes.Equal(g.Data, w.Data) {
				t.Errorf("GOMAXPROCS=%d: tx %d: code %d %q, want %d %q", procs, i, g.Code, g.Log, w.Code, w.Log)
			}
		}
		// The cache holds what pre-verification proved, nothing else.
		a.sigs = newSigCache()
		a.preverify(hbs)
		for i, raw := range hbs {
			var tx types.Tx
			if tx.Unmarshal(raw) != nil {
				continue
			}
			if has := a.sigs.has(sigKey(tx.PubKey, tx.BodyBytes, tx.Signature)); has == bad[i] {
				t.Errorf("GOMAXPROCS=%d: tx %d: cached %v with a bad signature %v", procs, i, has, bad[i])
			}
		}
	}
}
