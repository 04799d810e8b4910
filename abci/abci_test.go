package abci

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"flag"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	ics23 "github.com/cosmos/ics23/go"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/internal/testseed"
	"github.com/phalanx-bft/phalanx/proof"
	"github.com/phalanx-bft/phalanx/types"
)

const testChain = "phalanx-test"

var seedFlag = flag.Int64("seed", 0, "seed for randomised tests (0 = time-based)")

// key derives a deterministic test key from a name.
func key(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("phalanx-abci-test/" + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func pub(k ed25519.PrivateKey) []byte { return k.Public().(ed25519.PublicKey) }

// signTx builds a signed transaction for body.
func signTx(t testing.TB, k ed25519.PrivateKey, body *types.TxBody) []byte {
	t.Helper()
	bz, err := body.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tx := types.Tx{BodyBytes: bz, PubKey: pub(k), Signature: crypto.Sign(k, bz)}
	raw, err := tx.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func cordon(chain string, seq uint64, node string) *types.TxBody {
	return &types.TxBody{ChainId: chain, Sequence: seq, Msg: &types.TxBody_CordonNode{CordonNode: &types.CordonNode{NodeId: node}}}
}

func register(chain string, seq uint64, node string, nodeKey ed25519.PrivateKey, zone string) *types.TxBody {
	return &types.TxBody{ChainId: chain, Sequence: seq, Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
		NodeId: node, PubKey: pub(nodeKey), Zone: zone,
		Capacity: types.Resources{CpuMillis: 4000, MemoryMb: 8192},
	}}}
}

// newApp opens an Application in a fresh directory and runs InitChain
// with "admin" holding admin, operator and observer.
func newApp(t testing.TB, dir string) *Application {
	t.Helper()
	a, err := New(Config{ChainID: testChain, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if a.state != nil {
		return a
	}
	g := &api.Genesis{Params: api.DefaultParams(), Accounts: []types.GenesisAccount{{
		Address: crypto.Address(pub(key("admin"))), PubKey: pub(key("admin")),
		Roles: []types.Role{types.ROLE_ADMIN, types.ROLE_OPERATOR, types.ROLE_OBSERVER},
	}}}
	appState, err := g.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	val := cmted25519.PubKey(pub(key("validator")))
	_, err = a.InitChain(context.Background(), &abcitypes.InitChainRequest{
		ChainId: testChain, InitialHeight: 1, AppStateBytes: appState,
		Validators: []abcitypes.ValidatorUpdate{abcitypes.NewValidatorUpdate(val, 10)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func checkTx(t testing.TB, a *Application, raw []byte) *abcitypes.CheckTxResponse {
	t.Helper()
	resp, err := a.CheckTx(context.Background(), &abcitypes.CheckTxRequest{Tx: raw, Type: abcitypes.CHECK_TX_TYPE_CHECK})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// commitBlock finalizes and commits one block; it returns the app hash.
func commitBlock(t testing.TB, a *Application, height int64, txs [][]byte) (*abcitypes.FinalizeBlockResponse, []byte) {
	t.Helper()
	ctx := context.Background()
	hash := sha256.Sum256([]byte(fmt.Sprintf("block-%d", height)))
	resp, err := a.FinalizeBlock(ctx, &abcitypes.FinalizeBlockRequest{
		Txs: txs, Height: height, Hash: hash[:],
		Time: time.Unix(1_700_000_000, 0).Add(time.Duration(height) * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(ctx, &abcitypes.CommitRequest{}); err != nil {
		t.Fatal(err)
	}
	return resp, resp.AppHash
}

func TestCheckTxRejectsEachWithItsOwnCode(t *testing.T) {
	a := newApp(t, t.TempDir())
	admin := key("admin")
	stranger := key("stranger")

	// Commit one good tx so that sequence 0 is used.
	good := signTx(t, admin, register(testChain, 0, "n1", key("n1"), "a"))
	if r := checkTx(t, a, good); r.Code != 0 {
		t.Fatalf("good tx rejected: %d %s", r.Code, r.Log)
	}
	res, _ := commitBlock(t, a, 1, [][]byte{good})
	if res.TxResults[0].Code != 0 {
		t.Fatalf("good tx failed in block: %d %s", res.TxResults[0].Code, res.TxResults[0].Log)
	}

	badSig := signTx(t, admin, cordon(testChain, 1, "n1"))
	{
		var tx types.Tx
		if err := tx.Unmarshal(badSig); err != nil {
			t.Fatal(err)
		}
		tx.Signature[0] ^= 0xFF
		badSig, _ = tx.Marshal()
	}
	// A signature lifted from one valid transaction into another body.
	lifted := func() []byte {
		var donor, target types.Tx
		_ = donor.Unmarshal(signTx(t, admin, cordon(testChain, 1, "n1")))
		_ = target.Unmarshal(signTx(t, admin, cordon(testChain, 1, "n2")))
		target.Signature = donor.Signature
		raw, _ := target.Marshal()
		return raw
	}()
	oversized := signTx(t, admin, &types.TxBody{ChainId: testChain, Sequence: 1, Memo: string(bytes.Repeat([]byte("x"), api.MaxTxBytes)),
		Msg: &types.TxBody_CordonNode{CordonNode: &types.CordonNode{NodeId: "n1"}}})

	cases := []struct {
		name string
		raw  []byte
		want *api.Error
	}{
		{"garbage bytes", []byte("this is not a transaction \xff\xfe"), api.ErrTxUndecodable},
		{"oversized", oversized, api.ErrTxTooLarge},
		{"bad signature", badSig, api.ErrBadSignature},
		{"lifted signature", lifted, api.ErrBadSignature},
		{"wrong chain id", signTx(t, admin, cordon("other-chain", 1, "n1")), api.ErrWrongChainID},
		{"reused sequence", signTx(t, admin, cordon(testChain, 0, "n1")), api.ErrSequenceUsed},
		{"skipped sequence", signTx(t, admin, cordon(testChain, 5, "n1")), api.ErrSequenceSkipped},
		{"unknown signer", signTx(t, stranger, cordon(testChain, 0, "n1")), api.ErrUnknownSigner},
		{"signer without the role", signTx(t, key("n1"), cordon(testChain, 0, "n1")), api.ErrUnauthorized},
		{"heartbeat not by the node's key", signTx(t, admin, heartbeat(testChain, 1, "n1", 1, 0)), api.ErrNotNodeKey},
		{"self-registration while registration is closed", signTx(t, stranger, register(testChain, 0, "n9", stranger, "a")), api.ErrRegistrationClosed},
		{"evidence that does not conflict", evidence(t, admin, 1, signTx(t, key("n1"), heartbeat(testChain, 9, "n1", 5, 1)), signTx(t, key("n1"), heartbeat(testChain, 9, "n1", 6, 2))), api.ErrInvalidEvidence},
		{"evidence of two signers", evidence(t, admin, 1, signTx(t, key("n1"), heartbeat(testChain, 9, "n1", 5, 1)), signTx(t, stranger, heartbeat(testChain, 9, "n1", 5, 2))), api.ErrInvalidEvidence},
		{"evidence with a bad inner signature", evidence(t, admin, 1, signTx(t, key("n1"), heartbeat(testChain, 9, "n1", 5, 1)), flipSig(t, signTx(t, key("n1"), heartbeat(testChain, 9, "n1", 5, 2)))), api.ErrInvalidEvidence},
		{"evidence with an undecodable inner tx", evidence(t, admin, 1, signTx(t, key("n1"), heartbeat(testChain, 9, "n1", 5, 1)), []byte("junk \xff")), api.ErrInvalidEvidence},
		{"evidence from a node's key", evidence(t, key("n1"), 0, signTx(t, stranger, heartbeat(testChain, 9, "n1", 5, 1)), signTx(t, stranger, heartbeat(testChain, 9, "n1", 5, 2))), api.ErrUnauthorized},
	}
	seen := map[uint32]string{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := checkTx(t, a, c.raw)
			if r.Code != c.want.Code {
				t.Fatalf("code %d (%s); want %d (%s)", r.Code, r.Log, c.want.Code, c.want.Desc)
			}
			if r.Log == "" {
				t.Fatal("rejection without a message")
			}
			t.Logf("code %d: %s", r.Code, r.Log)
		})
		if prev, dup := seen[c.want.Code]; dup && prev != "bad signature" && !strings.HasPrefix(c.name, "evidence") {
			t.Fatalf("%s and %s share code %d", prev, c.name, c.want.Code)
		}
		seen[c.want.Code] = c.name
	}
	// Nothing above changed the state: the admin's next sequence is still 1.
	if got := a.state.NextSequence(crypto.Address(pub(admin))); got != 1 {
		t.Fatalf("rejected txs changed the sequence: %d, want 1", got)
	}
}

func heartbeat(chain string, seq uint64, node string, hbSeq uint64, cpu int64) *types.TxBody {
	return &types.TxBody{ChainId: chain, Sequence: seq, Msg: &types.TxBody_Heartbeat{Heartbeat: &types.Heartbeat{
		NodeId: node, Seq: hbSeq, Usage: types.Resources{CpuMillis: cpu}}}}
}

// evidence is a ReportEquivocation of txA and txB signed by k.
func evidence(t testing.TB, k ed25519.PrivateKey, seq uint64, txA, txB []byte) []byte {
	return signTx(t, k, &types.TxBody{ChainId: testChain, Sequence: seq, Msg: &types.TxBody_ReportEquivocation{
		ReportEquivocation: &types.ReportEquivocation{TxA: txA, TxB: txB}}})
}

func flipSig(t testing.TB, raw []byte) []byte {
	var tx types.Tx
	if err := tx.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	tx.Signature[0] ^= 0xFF
	out, _ := tx.Marshal()
	return out
}

func TestCheckTxTracksPendingSequences(t *testing.T) {
	a := newApp(t, t.TempDir())
	admin := key("admin")
	var block [][]byte
	for seq := uint64(0); seq < 5; seq++ {
		raw := signTx(t, admin, register(testChain, seq, fmt.Sprintf("n%d", seq), key(fmt.Sprintf("n%d", seq)), "a"))
		if r := checkTx(t, a, raw); r.Code != 0 {
			t.Fatalf("seq %d rejected: %s", seq, r.Log)
		}
		block = append(block, raw)
	}
	// A second copy of seq 2 is a replay while the first is pending.
	if r := checkTx(t, a, block[2]); r.Code != api.ErrSequenceUsed.Code {
		t.Fatalf("replayed pending tx: code %d, want %d", r.Code, api.ErrSequenceUsed.Code)
	}
	res, _ := commitBlock(t, a, 1, block)
	for i, r := range res.TxResults {
		if r.Code != 0 {
			t.Fatalf("tx %d: %d %s", i, r.Code, r.Log)
		}
	}
	// Replaying a committed tx in a later block is rejected there too and
	// changes nothing.
	res, h1 := commitBlock(t, a, 2, [][]byte{block[0]})
	if res.TxResults[0].Code != api.ErrSequenceUsed.Code {
		t.Fatalf("replayed committed tx in a block: code %d", res.TxResults[0].Code)
	}
	_, h2 := commitBlock(t, a, 3, nil)
	if !bytes.Equal(h1, h2) {
		t.Logf("note: app hash changed across an empty block (end-of-block pass wrote state)")
	}
}

func TestProcessProposalRejectsBadTransactions(t *testing.T) {
	a := newApp(t, t.TempDir())
	good := signTx(t, key("admin"), cordon(testChain, 0, "n1"))
	for name, txs := range map[string][][]byte{
		"garbage":     {good, []byte{0x01, 0x02}},
		"wrong chain": {signTx(t, key("admin"), cordon("x", 0, "n1"))},
	} {
		r, err := a.ProcessProposal(context.Background(), &abcitypes.ProcessProposalRequest{Txs: txs, Height: 1})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != abcitypes.PROCESS_PROPOSAL_STATUS_REJECT {
			t.Fatalf("%s: proposal accepted", name)
		}
	}
	r, _ := a.ProcessProposal(context.Background(), &abcitypes.ProcessProposalRequest{Txs: [][]byte{good}, Height: 1})
	if r.Status != abcitypes.PROCESS_PROPOSAL_STATUS_ACCEPT {
		t.Fatal("good proposal rejected")
	}
}

// randomBlocks makes blocks of valid and invalid transactions.
func randomBlocks(rng *rand.Rand, n int) [][][]byte {
	admin := key("admin")
	var seq uint64
	var blocks [][][]byte
	nodes := 0
	for h := 0; h < n; h++ {
		var txs [][]byte
		for i := rng.Intn(6); i > 0; i-- {
			var body *types.TxBody
			switch rng.Intn(5) {
			case 0, 1:
				id := fmt.Sprintf("n%d", nodes)
				nodes++
				body = register(testChain, seq, id, key(id), fmt.Sprintf("zone-%d", rng.Intn(3)))
			case 2:
				body = cordon(testChain, seq, fmt.Sprintf("n%d", rng.Intn(nodes+1)))
			case 3:
				spec := types.WorkloadSpec{Name: fmt.Sprintf("w%d", rng.Intn(4)), Command: "sleep", Args: []string{"60"},
					Replicas: uint32(1 + rng.Intn(4)), Resources: types.Resources{CpuMillis: int64(100 * (1 + rng.Intn(10))), MemoryMb: 128}}
				body = &types.TxBody{ChainId: testChain, Sequence: seq, Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: spec}}}
			default: // a wrong sequence: rejected, changes nothing
				body = cordon(testChain, seq+3, "n0")
				txs = append(txs, mustSign(admin, body))
				continue
			}
			txs = append(txs, mustSign(admin, body))
			seq++
		}
		blocks = append(blocks, txs)
	}
	return blocks
}

func mustSign(k ed25519.PrivateKey, body *types.TxBody) []byte {
	bz, err := body.Marshal()
	if err != nil {
		panic(err)
	}
	raw, err := (&types.Tx{BodyBytes: bz, PubKey: pub(k), Signature: crypto.Sign(k, bz)}).Marshal()
	if err != nil {
		panic(err)
	}
	return raw
}

// TestReplayGivesEqualAppHashes feeds the same blocks to two fresh
// applications and compares app hashes at every height; a third
// application is restarted from disk half-way and must agree too.
func TestReplayGivesEqualAppHashes(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	testseed.Log(t, "./abci", seed)
	blocks := randomBlocks(rand.New(rand.NewSource(seed)), 60)

	a, b := newApp(t, t.TempDir()), newApp(t, t.TempDir())
	cDir := t.TempDir()
	c := newApp(t, cDir)
	for i, txs := range blocks {
		h := int64(i + 1)
		_, ha := commitBlock(t, a, h, txs)
		_, hb := commitBlock(t, b, h, txs)
		_, hc := commitBlock(t, c, h, txs)
		if !bytes.Equal(ha, hb) || !bytes.Equal(ha, hc) {
			t.Fatalf("seed %d: app hashes differ at height %d: %X %X %X", seed, h, ha, hb, hc)
		}
		if h == 30 { // restart c from its database
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			var err error
			if c, err = New(Config{ChainID: testChain, DataDir: cDir}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			info, _ := c.Info(context.Background(), &abcitypes.InfoRequest{})
			if info.LastBlockHeight != h || !bytes.Equal(info.LastBlockAppHash, ha) {
				t.Fatalf("after restart Info = (%d, %X); want (%d, %X)", info.LastBlockHeight, info.LastBlockAppHash, h, ha)
			}
		}
	}
	for _, path := range []string{"/nodes", "/workloads", "/tasks", "/summary"} {
		qa, _ := a.Query(context.Background(), &abcitypes.QueryRequest{Path: path})
		qc, _ := c.Query(context.Background(), &abcitypes.QueryRequest{Path: path})
		if qa.Code != 0 || !bytes.Equal(qa.Value, qc.Value) {
			t.Fatalf("seed %d: query %s differs after restart (code %d %s):\n%s\n%s", seed, path, qa.Code, qa.Log, qa.Value, qc.Value)
		}
	}
}

func TestQueryProofVerifiesAgainstAppHash(t *testing.T) {
	a := newApp(t, t.TempDir())
	_, hash := commitBlock(t, a, 1, [][]byte{signTx(t, key("admin"), register(testChain, 0, "n1", key("n1"), "a"))})

	resp, err := a.Query(context.Background(), &abcitypes.QueryRequest{Path: "/nodes/n1", Prove: true})
	if err != nil || resp.Code != 0 {
		t.Fatalf("query: %v %d %s", err, resp.Code, resp.Log)
	}
	if resp.Height != 1 || resp.ProofOps == nil || len(resp.ProofOps.Ops) != 1 || resp.ProofOps.Ops[0].Type != proof.OpType {
		t.Fatalf("unexpected proof answer: height %d ops %v", resp.Height, resp.ProofOps)
	}
	var cp ics23.CommitmentProof
	if err := cp.Unmarshal(resp.ProofOps.Ops[0].Data); err != nil {
		t.Fatal(err)
	}
	var n types.Node
	if err := n.Unmarshal(resp.Value); err != nil || n.Id != "n1" {
		t.Fatalf("value is not node n1: %v %v", err, n.Id)
	}
	if !proof.Verify(hash, &cp, resp.Key, resp.Value) {
		t.Fatal("proof does not verify against the app hash")
	}
	tampered := append([]byte(nil), resp.Value...)
	tampered[len(tampered)-1] ^= 0x01
	if proof.Verify(hash, &cp, resp.Key, tampered) {
		t.Fatal("tampered value verified")
	}
	if proof.Verify(append([]byte{0}, hash[1:]...), &cp, resp.Key, resp.Value) {
		t.Fatal("proof verified against a wrong root")
	}
	// Absence is provable too.
	resp, _ = a.Query(context.Background(), &abcitypes.QueryRequest{Path: "/nodes/nope", Prove: true})
	if resp.Code != 0 || resp.Value != nil {
		t.Fatalf("absent node: code %d value %x", resp.Code, resp.Value)
	}
	if err := cp.Unmarshal(resp.ProofOps.Ops[0].Data); err != nil {
		t.Fatal(err)
	}
	if !proof.Verify(hash, &cp, resp.Key, nil) {
		t.Fatal("absence proof does not verify")
	}
}
