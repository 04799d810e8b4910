package api

import (
	"crypto/ed25519"
	"testing"

	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

func signed(t *testing.T, k ed25519.PrivateKey, body *types.TxBody) []byte {
	t.Helper()
	bb, err := body.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := (&types.Tx{BodyBytes: bb, PubKey: k.Public().(ed25519.PublicKey), Signature: crypto.Sign(k, bb)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func hbBody(seq uint64, cpu int64) *types.TxBody {
	return &types.TxBody{ChainId: "c", Msg: &types.TxBody_Heartbeat{Heartbeat: &types.Heartbeat{NodeId: "n1", Seq: seq, Usage: types.Resources{CpuMillis: cpu}}}}
}

// Evidence is verified in full by DecodeTx's validation; it cannot nest,
// and EquivocationOf names the equivocating key without verifying again.
func TestValidateEquivocation(t *testing.T) {
	k := ed25519.NewKeyFromSeed(make([]byte, 32))
	a, b := signed(t, k, hbBody(5, 1)), signed(t, k, hbBody(5, 2))
	good := &types.ReportEquivocation{TxA: a, TxB: b}
	if err := validateEquivocation(good, "c", crypto.Verify); err != nil {
		t.Fatalf("valid evidence refused: %v", err)
	}
	e, err := EquivocationOf(good, "c")
	if err != nil || string(e.Address) != string(crypto.Address(k.Public().(ed25519.PublicKey))) {
		t.Fatalf("EquivocationOf: %+v, %v", e, err)
	}
	if err := validateEquivocation(good, "other", crypto.Verify); CodeOf(err) != ErrInvalidEvidence.Code {
		t.Fatalf("evidence for another chain: %v", err)
	}
	nested := signed(t, k, &types.TxBody{ChainId: "c", Msg: &types.TxBody_ReportEquivocation{ReportEquivocation: good}})
	if err := validateEquivocation(&types.ReportEquivocation{TxA: nested, TxB: b}, "c", crypto.Verify); CodeOf(err) != ErrInvalidEvidence.Code {
		t.Fatalf("nested evidence: %v", err)
	}
	calls := 0
	count := func(pub, body, sig []byte) bool { calls++; return crypto.Verify(pub, body, sig) }
	if err := validateEquivocation(&types.ReportEquivocation{TxA: a, TxB: signed(t, k, hbBody(6, 2))}, "c", count); CodeOf(err) != ErrInvalidEvidence.Code || calls != 0 {
		t.Fatalf("non-conflicting evidence: %v after %d verifications; want code 18 after none", err, calls)
	}
}
