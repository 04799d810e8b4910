package abci

import (
	"bytes"
	"context"
	"strings"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

func hb(chain string, seq uint64, node string) *types.TxBody {
	return &types.TxBody{ChainId: chain, Sequence: seq, Msg: &types.TxBody_Heartbeat{Heartbeat: &types.Heartbeat{NodeId: node, Seq: seq + 1}}}
}

func prepare(t *testing.T, a *Application, maxTxBytes int64, txs ...[]byte) [][]byte {
	t.Helper()
	resp, err := a.PrepareProposal(context.Background(), &abcitypes.PrepareProposalRequest{Txs: txs, MaxTxBytes: maxTxBytes, Height: 2})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Txs
}

func process(t *testing.T, a *Application, txs ...[]byte) bool {
	t.Helper()
	resp, err := a.ProcessProposal(context.Background(), &abcitypes.ProcessProposalRequest{Txs: txs, Height: 2})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status == abcitypes.PROCESS_PROPOSAL_STATUS_ACCEPT
}

// names maps raw transactions to readable labels for failure messages.
func names(all map[string][]byte, txs [][]byte) string {
	var out []string
	for _, tx := range txs {
		label := "?"
		for name, raw := range all {
			if bytes.Equal(raw, tx) {
				label = name
			}
		}
		out = append(out, label)
	}
	return strings.Join(out, " ")
}

func TestPrepareProposalHealthFirst(t *testing.T) {
	a := newApp(t, t.TempDir())
	admin := key("admin")
	all := map[string][]byte{
		"A0": signTx(t, admin, cordon(testChain, 0, "n1")),
		"A1": signTx(t, admin, cordon(testChain, 1, "n2")),
		"H1": signTx(t, key("n1"), hb(testChain, 0, "n1")),
		"H2": signTx(t, key("n2"), hb(testChain, 0, "n2")),
	}
	junk := []byte("not a transaction")
	got := prepare(t, a, 1<<20, all["A0"], all["H1"], junk, all["A1"], all["H2"])
	if want := "H1 H2 A0 A1"; names(all, got) != want {
		t.Fatalf("PrepareProposal: %s; want %s (health first, junk dropped)", names(all, got), want)
	}
	if !process(t, a, got...) {
		t.Fatal("ProcessProposal rejects the block PrepareProposal built")
	}
	if process(t, a, all["A0"], all["H1"]) {
		t.Fatal("ProcessProposal accepts a heartbeat after another signer's cordon")
	}
	if process(t, a, all["H1"], junk) {
		t.Fatal("ProcessProposal accepts an undecodable transaction")
	}
}

// TestPrepareProposalSignerOrder: one signer's transactions, out of order
// in the mempool, are put in sequence order in their signer's slots;
// ProcessProposal rejects the out-of-order block; a gap or a committed
// sequence is dropped.
func TestPrepareProposalSignerOrder(t *testing.T) {
	a := newApp(t, t.TempDir())
	admin := key("admin")
	all := map[string][]byte{
		"A0": signTx(t, admin, cordon(testChain, 0, "n1")),
		"A1": signTx(t, admin, cordon(testChain, 1, "n2")),
		"A2": signTx(t, admin, cordon(testChain, 2, "n3")),
		"A4": signTx(t, admin, cordon(testChain, 4, "n4")),
		"B0": signTx(t, key("operator"), cordon(testChain, 0, "n5")),
		"H1": signTx(t, key("n1"), hb(testChain, 0, "n1")),
	}
	mempool := [][]byte{all["A2"], all["B0"], all["A0"], all["H1"], all["A1"]}
	if process(t, a, mempool...) {
		t.Fatal("ProcessProposal accepts a block with the admin's sequences 2, 0, 1")
	}
	got := prepare(t, a, 1<<20, mempool...)
	if want := "H1 A0 B0 A1 A2"; names(all, got) != want {
		t.Fatalf("PrepareProposal: %s; want %s", names(all, got), want)
	}
	if !process(t, a, got...) {
		t.Fatal("ProcessProposal rejects the reordered block")
	}
	// A gap: A4 cannot commit after A2, so it is left out.
	got = prepare(t, a, 1<<20, all["A4"], all["A1"], all["A0"], all["A2"])
	if want := "A0 A1 A2"; names(all, got) != want {
		t.Fatalf("with a gap: %s; want %s", names(all, got), want)
	}
	// Once A0 is committed, it is dropped; a repeated sequence is not
	// accepted by ProcessProposal.
	commitBlock(t, a, 1, [][]byte{all["A0"]})
	if n := a.state.NextSequence(crypto.Address(pub(admin))); n != 1 {
		t.Fatalf("admin's next sequence after a block with A0: %d; want 1", n)
	}
	got = prepare(t, a, 1<<20, all["A0"], all["A2"], all["A1"])
	if want := "A1 A2"; names(all, got) != want {
		t.Fatalf("after A0 committed: %s; want %s", names(all, got), want)
	}
	if process(t, a, all["A1"], all["A1"]) {
		t.Fatal("ProcessProposal accepts one sequence twice")
	}
}

// TestPrepareProposalSignerOrderOutranksHealthFirst: a signer's health
// transaction after its own non-health one stays behind it.
func TestPrepareProposalSignerOrderOutranksHealthFirst(t *testing.T) {
	a := newApp(t, t.TempDir())
	admin := key("admin")
	all := map[string][]byte{
		"A0": signTx(t, admin, cordon(testChain, 0, "n1")),
		"AH": signTx(t, admin, hb(testChain, 1, "n9")),
		"H1": signTx(t, key("n1"), hb(testChain, 0, "n1")),
		"B0": signTx(t, key("operator"), cordon(testChain, 0, "n5")),
	}
	got := prepare(t, a, 1<<20, all["AH"], all["A0"], all["B0"], all["H1"])
	if want := "H1 A0 AH B0"; names(all, got) != want {
		t.Fatalf("PrepareProposal: %s; want %s", names(all, got), want)
	}
	if !process(t, a, got...) {
		t.Fatal("ProcessProposal rejects a signer's heartbeat behind its own cordon")
	}
	if process(t, a, all["A0"], all["H1"]) {
		t.Fatal("ProcessProposal accepts another signer's heartbeat after a cordon")
	}
}

// TestPrepareProposalCapsNonHealth: the non-health transactions take at
// most half of MaxTxBytes; health transactions fill the rest; a signer
// whose transaction did not fit gets none after it. ProcessProposal
// rejects a block whose non-health transactions exceed
// api.MaxNonHealthBlockBytes.
func TestPrepareProposalCapsNonHealth(t *testing.T) {
	a := newApp(t, t.TempDir())
	admin := key("admin")
	var mempool [][]byte
	adminBytes := 0
	for i := 0; i < 40; i++ {
		raw := signTx(t, admin, cordon(testChain, uint64(i), "n1"))
		adminBytes += len(raw)
		mempool = append(mempool, raw)
	}
	var hbs [][]byte
	for i := 0; i < 10; i++ {
		hbs = append(hbs, signTx(t, key("hb"+string(rune('a'+i))), hb(testChain, 0, "n1")))
	}
	mempool = append(mempool, hbs...)
	const maxTxBytes = 8000
	got := prepare(t, a, maxTxBytes, mempool...)
	health, nonHealth, total := 0, 0, int64(0)
	for i, raw := range got {
		tx, err := api.DecodeTx(raw, testChain)
		if err != nil {
			t.Fatal(err)
		}
		total += protoTxSize(len(raw))
		if api.IsHealthMsg(&tx.Body) {
			if nonHealth > 0 {
				t.Fatalf("tx %d: a heartbeat after a cordon", i)
			}
			health++
			continue
		}
		nonHealth += len(raw)
		if tx.Body.Sequence != uint64(i-health) {
			t.Fatalf("tx %d: admin sequence %d; want %d", i, tx.Body.Sequence, i-health)
		}
	}
	if health != len(hbs) || nonHealth > maxTxBytes/2 || nonHealth < maxTxBytes/2-len(mempool[0]) || total > maxTxBytes {
		t.Fatalf("%d heartbeats (of %d), %d non-health bytes (cap %d), %d bytes in all (max %d)",
			health, len(hbs), nonHealth, maxTxBytes/2, total, maxTxBytes)
	}

	// Above the absolute cap, ProcessProposal rejects. Cordons with a long
	// memo and reason are about 700 bytes.
	var big [][]byte
	size := 0
	for i := 0; size <= api.MaxNonHealthBlockBytes; i++ {
		raw := signTx(t, admin, &types.TxBody{ChainId: testChain, Sequence: uint64(i), Memo: strings.Repeat("m", api.MaxMemoBytes),
			Msg: &types.TxBody_CordonNode{CordonNode: &types.CordonNode{NodeId: "n1", Reason: strings.Repeat("r", api.MaxReasonLen)}}})
		size += len(raw)
		big = append(big, raw)
	}
	if !process(t, a, big[:len(big)-1]...) {
		t.Fatal("ProcessProposal rejects non-health transactions within api.MaxNonHealthBlockBytes")
	}
	if process(t, a, big...) {
		t.Fatalf("ProcessProposal accepts %d non-health bytes (cap %d)", size, api.MaxNonHealthBlockBytes)
	}
	if got := prepare(t, a, 8<<20, big...); len(got) != len(big)-1 {
		t.Fatalf("PrepareProposal with MaxTxBytes 8 MiB kept %d of %d; want all but the one above api.MaxNonHealthBlockBytes", len(got), len(big))
	}
}

func checkTxType(t *testing.T, a *Application, raw []byte, typ abcitypes.CheckTxType) uint32 {
	t.Helper()
	resp, err := a.CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: raw, Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Code
}

func TestCheckTxSignerBudget(t *testing.T) {
	a := newApp(t, t.TempDir())
	a.cfg.SignerPendingTxs = 3
	admin := key("admin")
	var txs [][]byte
	for i := 0; i < 6; i++ {
		txs = append(txs, signTx(t, admin, cordon(testChain, uint64(i), "n1")))
	}
	for i := 0; i < 3; i++ {
		if c := checkTx(t, a, txs[i]).Code; c != 0 {
			t.Fatalf("tx %d: code %d", i, c)
		}
	}
	if r := checkTx(t, a, txs[3]); r.Code != api.ErrSignerBudget.Code {
		t.Fatalf("the 4th pending tx: code %d %q; want %d", r.Code, r.Log, api.ErrSignerBudget.Code)
	}
	// Another signer has a budget of its own.
	if c := checkTx(t, a, signTx(t, key("n1"), hb(testChain, 0, "n1"))).Code; c == api.ErrSignerBudget.Code {
		t.Fatal("another signer is refused for the admin's budget")
	}
	// A block commits tx 0; the recheck keeps 1 and 2 and evicts 0 (were
	// it still there): one slot is free again.
	commitBlock(t, a, 1, [][]byte{txs[0]})
	if c := checkTxType(t, a, txs[0], abcitypes.CHECK_TX_TYPE_RECHECK); c != api.ErrSequenceUsed.Code {
		t.Fatalf("recheck of the committed tx: code %d; want %d", c, api.ErrSequenceUsed.Code)
	}
	for i := 1; i < 3; i++ {
		if c := checkTxType(t, a, txs[i], abcitypes.CHECK_TX_TYPE_RECHECK); c != 0 {
			t.Fatalf("recheck of tx %d: code %d", i, c)
		}
	}
	if c := checkTx(t, a, txs[3]).Code; c != 0 {
		t.Fatalf("tx 3 after the block: code %d", c)
	}
	if c := checkTx(t, a, txs[4]).Code; c != api.ErrSignerBudget.Code {
		t.Fatalf("tx 4 with 3 pending: code %d; want %d", c, api.ErrSignerBudget.Code)
	}

	// The byte budget.
	b := newApp(t, t.TempDir())
	b.cfg.SignerPendingBytes = 2*len(txs[0]) + len(txs[0])/2
	for i := 0; i < 2; i++ {
		if c := checkTx(t, b, txs[i]).Code; c != 0 {
			t.Fatalf("bytes: tx %d: code %d", i, c)
		}
	}
	if r := checkTx(t, b, txs[2]); r.Code != api.ErrSignerBudget.Code {
		t.Fatalf("bytes: the 3rd tx: code %d %q; want %d", r.Code, r.Log, api.ErrSignerBudget.Code)
	}
}

// TestCheckTxRecheckRebuildsOutOfOrder: the mempool's list order may put
// a signer's sequence 3 before 1; the recheck keeps every pending sequence
// whatever the order, refuses a second transaction for one, and the next
// new transaction must carry the first sequence not pending; a gap is
// closed by the missing sequence.
func TestCheckTxRecheckRebuildsOutOfOrder(t *testing.T) {
	a := newApp(t, t.TempDir())
	admin := key("admin")
	var txs [][]byte
	for i := 0; i < 6; i++ {
		txs = append(txs, signTx(t, admin, cordon(testChain, uint64(i), "n1")))
	}
	for i := 0; i < 4; i++ {
		if c := checkTx(t, a, txs[i]).Code; c != 0 {
			t.Fatalf("tx %d: code %d", i, c)
		}
	}
	commitBlock(t, a, 1, [][]byte{txs[0]})
	for _, i := range []int{3, 1, 2} {
		if c := checkTxType(t, a, txs[i], abcitypes.CHECK_TX_TYPE_RECHECK); c != 0 {
			t.Fatalf("recheck of tx %d out of order: code %d", i, c)
		}
	}
	other3 := signTx(t, admin, cordon(testChain, 3, "n2"))
	if c := checkTxType(t, a, other3, abcitypes.CHECK_TX_TYPE_RECHECK); c != api.ErrSequenceUsed.Code {
		t.Fatalf("recheck of a second tx for sequence 3: code %d; want %d", c, api.ErrSequenceUsed.Code)
	}
	if c := checkTx(t, a, other3).Code; c != api.ErrSequenceUsed.Code {
		t.Fatalf("a new second tx for sequence 3: code %d; want %d", c, api.ErrSequenceUsed.Code)
	}
	if c := checkTx(t, a, txs[4]).Code; c != 0 {
		t.Fatalf("tx 4 after the recheck: code %d", c)
	}
	if n := len(a.pending[string(crypto.Address(pub(admin)))].seqs); n != 4 {
		t.Fatalf("%d pending for the admin; want 4 (1-4)", n)
	}

	// A gap after the next block: only 3 and 4 are rechecked (2 left the
	// mempool); 2 is admitted again and the view moves past 3 and 4.
	commitBlock(t, a, 2, [][]byte{txs[1]})
	for _, i := range []int{4, 3} {
		if c := checkTxType(t, a, txs[i], abcitypes.CHECK_TX_TYPE_RECHECK); c != 0 {
			t.Fatalf("recheck of tx %d: code %d", i, c)
		}
	}
	if c := checkTx(t, a, txs[5]).Code; c != api.ErrSequenceSkipped.Code {
		t.Fatalf("tx 5 with 2 missing: code %d; want %d", c, api.ErrSequenceSkipped.Code)
	}
	if c := checkTx(t, a, txs[2]).Code; c != 0 {
		t.Fatalf("tx 2 closing the gap: code %d", c)
	}
	if c := checkTx(t, a, txs[5]).Code; c != 0 {
		t.Fatalf("tx 5 after the gap closed: code %d", c)
	}
}

// The non-health share: all signers' transactions other than health ones
// together are bounded (code 36), health transactions are admitted past
// it, and a block frees the share.
func TestCheckTxNonHealthShare(t *testing.T) {
	a := newApp(t, t.TempDir())
	admin := key("admin")
	commitBlock(t, a, 1, [][]byte{signTx(t, admin, register(testChain, 0, "n1", key("n1"), "a"))})
	a.cfg.NonHealthPendingTxs = 2
	for i := uint64(1); i <= 2; i++ {
		if r := checkTx(t, a, signTx(t, admin, cordon(testChain, i, "n1"))); r.Code != 0 {
			t.Fatalf("non-health tx %d: code %d %s", i, r.Code, r.Log)
		}
	}
	if r := checkTx(t, a, signTx(t, admin, cordon(testChain, 3, "n1"))); r.Code != api.ErrNonHealthShare.Code || !strings.Contains(r.Log, "at most 2") {
		t.Fatalf("a third non-health tx: code %d %q; want %d", r.Code, r.Log, api.ErrNonHealthShare.Code)
	}
	if r := checkTx(t, a, signTx(t, key("n1"), hb(testChain, 0, "n1"))); r.Code != 0 {
		t.Fatalf("a heartbeat with the share full: code %d %s; want it admitted", r.Code, r.Log)
	}
	commitBlock(t, a, 2, nil)
	if r := checkTx(t, a, signTx(t, admin, cordon(testChain, 1, "n1"))); r.Code != 0 {
		t.Fatalf("after a block the share is free again: code %d %s", r.Code, r.Log)
	}
}

// TestPrepareProposalObserversFirst: among health transactions, an
// observer's Attest and HealthReport come before nodes' heartbeats, so a
// block too small for every heartbeat still carries them; a signer's
// Attest after its own heartbeat stays behind it.
func TestPrepareProposalObserversFirst(t *testing.T) {
	a := newApp(t, t.TempDir())
	attest := func(seq uint64) *types.TxBody {
		return &types.TxBody{ChainId: testChain, Sequence: seq, Msg: &types.TxBody_Attest{Attest: &types.Attest{Window: 1}}}
	}
	all := map[string][]byte{
		"H1": signTx(t, key("n1"), hb(testChain, 0, "n1")),
		"H2": signTx(t, key("n2"), hb(testChain, 0, "n2")),
		"O1": signTx(t, key("obs1"), attest(0)),
		"O2": signTx(t, key("obs2"), attest(0)),
		"XH": signTx(t, key("x"), hb(testChain, 0, "x")),
		"XO": signTx(t, key("x"), attest(1)),
		"A0": signTx(t, key("admin"), cordon(testChain, 0, "n1")),
	}
	got := prepare(t, a, 1<<20, all["H1"], all["A0"], all["XH"], all["O1"], all["H2"], all["XO"], all["O2"])
	if want := "O1 O2 H1 XH H2 XO A0"; names(all, got) != want {
		t.Fatalf("PrepareProposal: %s; want %s", names(all, got), want)
	}
	if !process(t, a, got...) {
		t.Fatal("ProcessProposal rejects the block PrepareProposal built")
	}
	// Room for two transactions: the observers', not the heartbeats.
	two := protoTxSize(len(all["O1"])) + protoTxSize(len(all["O2"]))
	got = prepare(t, a, two, all["H1"], all["H2"], all["O1"], all["O2"])
	if want := "O1 O2"; names(all, got) != want {
		t.Fatalf("PrepareProposal with room for two: %s; want %s", names(all, got), want)
	}
}
