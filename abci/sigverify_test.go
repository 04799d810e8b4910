package abci

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha512"
	"fmt"
	"math/rand"
	"runtime"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"

	"github.com/phalanx-bft/phalanx/crypto"
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
		a.sigs.reset() // cold: as a validator that saw none of them
		r, err := a.ProcessProposal(ctx, &abcitypes.ProcessProposalRequest{Txs: hbs, Height: 2})
		if err != nil {
			t.Fatal(err)
		}
		statusBad = r.Status
		a.sigs.reset()
		if r, err = a.ProcessProposal(ctx, &abcitypes.ProcessProposalRequest{Txs: good, Height: 2}); err != nil {
			t.Fatal(err)
		}
		statusGood = r.Status
		a.sigs.reset()
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
		a.sigs.reset()
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

// torsionSign signs bodyBytes with k as ed25519 does, but with a nonce
// point R = r·B + T for a point T of order 8: [S]B = R + [h]A fails
// (crypto/ed25519 rejects it) while [8][S]B = [8]R + [8][h]A holds, so
// ZIP-215 accepts it. Only the key's owner can make one.
func torsionSign(t *testing.T, k ed25519.PrivateKey, bodyBytes []byte) []byte {
	t.Helper()
	h := sha512.Sum512(k.Seed())
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	a, err := scalar.NewFromBytesModOrder(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	nonce := sha512.Sum512(append(h[32:], bodyBytes...))
	r, err := scalar.NewFromBytesModOrderWide(nonce[:])
	if err != nil {
		t.Fatal(err)
	}
	var R curve.EdwardsPoint
	R.Add(R.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, r), curve.EIGHT_TORSION[1])
	var Rc curve.CompressedEdwardsY
	Rc.SetEdwardsPoint(&R)
	hram := sha512.New()
	hram.Write(Rc[:])
	hram.Write(pub(k))
	hram.Write(crypto.SignBytes(bodyBytes))
	kh, err := scalar.NewFromBytesModOrderWide(hram.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	var S scalar.Scalar
	S.Add(r, S.Mul(kh, a))
	sig := make([]byte, crypto.SignatureLen)
	copy(sig, Rc[:])
	if err := S.ToBytes(sig[32:]); err != nil {
		t.Fatal(err)
	}
	return sig
}

// TestAppVersion2AcceptsCofactoredSignatures: a transaction whose
// signature only the cofactored equation accepts (ADR 0017) is admitted
// by CheckTx, accepted in a proposal and applied in a block, alone and
// among others (so through a batch); crypto/ed25519, app version 1's
// verifier, refuses it.
func TestAppVersion2AcceptsCofactoredSignatures(t *testing.T) {
	if AppVersion != 2 {
		t.Fatalf("AppVersion %d: this test pins version 2's rule; a new rule needs its own test", AppVersion)
	}
	admin := key("admin")
	mk := func(seq uint64, node string) []byte {
		body, err := cordon(testChain, seq, node).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		sig := torsionSign(t, admin, body)
		if ed25519.Verify(pub(admin), crypto.SignBytes(body), sig) {
			t.Fatal("crypto/ed25519 accepts the torsioned signature: it does not test what it should")
		}
		raw, err := (&types.Tx{BodyBytes: body, PubKey: pub(admin), Signature: sig}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	a := newApp(t, t.TempDir())
	commitBlock(t, a, 1, [][]byte{
		signTx(t, admin, register(testChain, 0, "c0", key("c0"), "a")),
		signTx(t, admin, register(testChain, 1, "c1", key("c1"), "a")),
	})
	first := mk(2, "c0")
	if r := checkTx(t, a, first); r.Code != 0 {
		t.Fatalf("CheckTx refused a ZIP-215 signature: %d %s", r.Code, r.Log)
	}
	// Heartbeats first (ADR 0015), enough for batches on two workers.
	var block [][]byte
	for i := range 2 * verifyBatchMin {
		id := fmt.Sprintf("n%d", i)
		block = append(block, signTx(t, key(id), heartbeat(testChain, 0, id, 1, 1)))
	}
	block = append(block, first, mk(3, "c1"))
	a.sigs.reset()
	if r, _ := a.ProcessProposal(context.Background(), &abcitypes.ProcessProposalRequest{Txs: block, Height: 2}); r.Status != abcitypes.PROCESS_PROPOSAL_STATUS_ACCEPT {
		t.Fatal("a proposal with ZIP-215 signatures rejected")
	}
	a.sigs.reset()
	res, _ := commitBlock(t, a, 2, block)
	for _, i := range []int{len(block) - 2, len(block) - 1} {
		if r := res.TxResults[i]; r.Code != 0 {
			t.Fatalf("tx %d with a ZIP-215 signature: code %d %s", i, r.Code, r.Log)
		}
	}
}
