package abci

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// Native fuzz targets of the transaction path and genesis
// (docs/testing.md, "Fuzzing"). Each input runs against fresh
// applications on goleveldb in temporary directories.

// fuzzSigners sign FuzzTxPath's body argument: the genesis admin (also
// operator and observer), the keys of the nodes the setup block
// registers, and a key without an account.
var fuzzSigners = []ed25519.PrivateKey{key("admin"), key("n1"), key("n2"), key("stranger")}

// fuzzWindow is the report window of block 2 (block time 1,700,000,002 s,
// params.report_window_ms 5,000).
const fuzzWindow = 1_700_000_002_000 / 5_000

// fuzzSetupBlock is block 1 of every FuzzTxPath application: the admin
// registers n1 (zone a) and n2 (zone b) and creates workload web with two
// replicas, so that the fuzzed block (height 2) meets nodes, tasks and
// accounts with keys.
func fuzzSetupBlock() [][]byte {
	admin := key("admin")
	return [][]byte{
		mustSign(admin, register(testChain, 0, "n1", key("n1"), "a")),
		mustSign(admin, register(testChain, 1, "n2", key("n2"), "b")),
		mustSign(admin, createWorkload(2, "web", 2)),
	}
}

func createWorkload(seq uint64, name string, replicas uint32) *types.TxBody {
	return &types.TxBody{ChainId: testChain, Sequence: seq, Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: types.WorkloadSpec{
		Name: name, Command: "sleep", Args: []string{"60"}, Replicas: replicas,
		Resources: types.Resources{CpuMillis: 500, MemoryMb: 128}}}}}
}

// fuzzApp is a fresh application with the setup block committed, in dir.
func fuzzApp(t testing.TB, dir string) *Application {
	a := newApp(t, dir)
	res, _ := commitBlock(t, a, 1, fuzzSetupBlock())
	for i, r := range res.TxResults {
		if r.Code != 0 {
			t.Fatalf("setup tx %d: code %d: %s", i, r.Code, r.Log)
		}
	}
	return a
}

var emptyBlock2 struct {
	once sync.Once
	hash []byte
}

// emptyBlockHash is the app hash after the setup block and an empty
// block 2: a block of transactions that all fail must give it too.
func emptyBlockHash(t testing.TB) []byte {
	emptyBlock2.once.Do(func() {
		_, emptyBlock2.hash = commitBlock(t, fuzzApp(t, t.TempDir()), 2, nil)
	})
	if emptyBlock2.hash == nil {
		t.Fatal("no app hash of the empty block")
	}
	return emptyBlock2.hash
}

// knownCode fails t unless code is a numbered refusal other than
// ErrInternal, and log says something.
func knownCode(t *testing.T, what string, code uint32, log string) {
	t.Helper()
	if code == 0 || code == api.ErrInternal.Code || log == "" {
		t.Fatalf("%s: code %d (%q); want a numbered refusal with a message", what, code, log)
	}
	for _, e := range api.AllErrors() {
		if e.Code == code {
			return
		}
	}
	t.Fatalf("%s: code %d is not in api.AllErrors: %s", what, code, log)
}

// FuzzTxPath feeds a raw transaction and a transaction body signed by one
// of fuzzSigners (signer modulo their number) to two fresh applications,
// each after the same setup block: CheckTx, then as block 2
// PrepareProposal / ProcessProposal / FinalizeBlock / Commit. Checks:
//   - no panic (nothing breaks an invariant, app/invariants.go);
//   - a CheckTx refusal is a numbered code with a message;
//   - ProcessProposal decides the same on both, and accepts what
//     PrepareProposal built from the same transactions (a subset of them);
//   - replay equality: both give the same app hash, the same results
//     (code, log, data, events) and the same query answers;
//   - a block of transactions that CheckTx all refused changes nothing:
//     each gets the same code from FinalizeBlock, and the app hash is the
//     empty block's;
//   - restarted from its database, an application loads the state
//     (app.LoadState verifies it), reports the same height and app hash
//     and answers queries as before.
func FuzzTxPath(f *testing.F) {
	admin, n1 := key("admin"), key("n1")
	hb := func(seq, hbSeq uint64, cpu int64) []byte {
		return mustSign(n1, heartbeat(testChain, seq, "n1", hbSeq, cpu))
	}
	body := func(b *types.TxBody) []byte {
		bz, err := b.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		return bz
	}
	report := &types.TxBody{ChainId: testChain, Sequence: 3, Msg: &types.TxBody_HealthReport{HealthReport: &types.HealthReport{
		Window: fuzzWindow, Observations: []types.Observation{{NodeId: "n1", Reachable: true, RttMs: 2}, {NodeId: "n2"}}}}}
	attest := &types.TxBody{ChainId: testChain, Sequence: 3, Msg: &types.TxBody_Attest{Attest: &types.Attest{
		Window: fuzzWindow, Up: []string{"n1", "n2"}}}}
	f.Add(hb(0, 1, 100), uint8(0), body(report))
	f.Add(mustSign(admin, register(testChain, 3, "n3", key("n3"), "c")), uint8(1), body(heartbeat(testChain, 0, "n1", 1, 250)))
	attest4 := *attest
	attest4.Sequence = 4
	f.Add(mustSign(admin, createWorkload(3, "db", 1)), uint8(0), body(&attest4))
	f.Add(mustSign(admin, attest), uint8(2), body(heartbeat(testChain, 0, "n2", 1, 0)))
	f.Add(evidence(f, admin, 3, hb(0, 5, 1), hb(1, 5, 2)), uint8(3), body(cordon(testChain, 0, "n1")))
	f.Add(hb(0, 0, 1), uint8(0), body(cordon(testChain, 7, "n1")))
	f.Add([]byte{0x0a, 0x02, 0x08}, uint8(0), []byte{})
	f.Add([]byte{}, uint8(0), []byte{0xff})
	f.Fuzz(func(t *testing.T, raw []byte, signer uint8, bodyBytes []byte) {
		var txs [][]byte
		if len(raw) > 0 {
			txs = append(txs, raw)
		}
		if len(bodyBytes) > 0 {
			k := fuzzSigners[int(signer)%len(fuzzSigners)]
			signed, err := (&types.Tx{BodyBytes: bodyBytes, PubKey: pub(k), Signature: crypto.Sign(k, bodyBytes)}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			txs = append(txs, signed)
		}
		ctx := context.Background()
		aDir := t.TempDir()
		a, b := fuzzApp(t, aDir), fuzzApp(t, t.TempDir())

		checked := make([]*abcitypes.CheckTxResponse, len(txs))
		allRefused := true
		for i, tx := range txs {
			checked[i] = checkTx(t, a, tx)
			if c := checked[i]; c.Code != 0 {
				knownCode(t, fmt.Sprintf("CheckTx of tx %d", i), c.Code, c.Log)
			} else {
				allRefused = false
			}
		}

		pa, err := a.ProcessProposal(ctx, &abcitypes.ProcessProposalRequest{Txs: txs, Height: 2})
		if err != nil {
			t.Fatal(err)
		}
		pb, err := b.ProcessProposal(ctx, &abcitypes.ProcessProposalRequest{Txs: txs, Height: 2})
		if err != nil {
			t.Fatal(err)
		}
		if pa.Status != pb.Status {
			t.Fatalf("ProcessProposal differs: %v and %v", pa.Status, pb.Status)
		}
		prep, err := a.PrepareProposal(ctx, &abcitypes.PrepareProposalRequest{Txs: txs, MaxTxBytes: 4 << 20, Height: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range prep.Txs {
			if !containsTx(txs, p) {
				t.Fatalf("PrepareProposal made up a transaction %x", p)
			}
		}
		if r, err := b.ProcessProposal(ctx, &abcitypes.ProcessProposalRequest{Txs: prep.Txs, Height: 2}); err != nil || r.Status != abcitypes.PROCESS_PROPOSAL_STATUS_ACCEPT {
			t.Fatalf("ProcessProposal refuses the block PrepareProposal built (%d txs): %v %v", len(prep.Txs), r, err)
		}

		ra, ha := commitBlock(t, a, 2, txs)
		rb, hb := commitBlock(t, b, 2, txs)
		if !bytes.Equal(ha, hb) {
			t.Fatalf("app hashes differ: %X and %X", ha, hb)
		}
		if len(ra.TxResults) != len(txs) || len(rb.TxResults) != len(txs) {
			t.Fatalf("%d txs, %d and %d results", len(txs), len(ra.TxResults), len(rb.TxResults))
		}
		for i := range txs {
			x, y := ra.TxResults[i], rb.TxResults[i]
			if x.Code != y.Code || x.Log != y.Log || !bytes.Equal(x.Data, y.Data) || !reflect.DeepEqual(x.Events, y.Events) {
				t.Fatalf("tx %d: results differ:\n%d %q\n%d %q", i, x.Code, x.Log, y.Code, y.Log)
			}
			if x.Code != 0 {
				knownCode(t, fmt.Sprintf("FinalizeBlock of tx %d", i), x.Code, x.Log)
			}
		}
		if !reflect.DeepEqual(ra.Events, rb.Events) || !reflect.DeepEqual(ra.ValidatorUpdates, rb.ValidatorUpdates) {
			t.Fatal("block events or validator updates differ")
		}
		if allRefused {
			for i := range txs {
				if got, want := ra.TxResults[i].Code, checked[i].Code; got != want {
					t.Fatalf("tx %d: CheckTx refused it with code %d (%s), FinalizeBlock gave %d (%s)", i, want, checked[i].Log, got, ra.TxResults[i].Log)
				}
			}
			if want := emptyBlockHash(t); !bytes.Equal(ha, want) {
				t.Fatalf("a block of refused txs changed the state: app hash %X; the empty block's is %X", ha, want)
			}
		}
		for _, path := range []string{"/summary", "/nodes", "/tasks", "/accounts"} {
			qa, _ := a.Query(ctx, &abcitypes.QueryRequest{Path: path})
			qb, _ := b.Query(ctx, &abcitypes.QueryRequest{Path: path})
			if qa.Code != 0 || qb.Code != 0 || !bytes.Equal(qa.Value, qb.Value) {
				t.Fatalf("query %s differs (codes %d %d):\n%s\n%s", path, qa.Code, qb.Code, qa.Value, qb.Value)
			}
		}

		// Restarted from its database (app.LoadState checks the whole
		// state's invariants), a reports the committed height and hash and
		// answers as before.
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		c, err := New(Config{ChainID: testChain, DataDir: aDir})
		if err != nil {
			t.Fatalf("restart after block 2: %v", err)
		}
		defer c.Close()
		if info, _ := c.Info(ctx, &abcitypes.InfoRequest{}); info.LastBlockHeight != 2 || !bytes.Equal(info.LastBlockAppHash, ha) {
			t.Fatalf("after a restart Info = (%d, %X); want (2, %X)", info.LastBlockHeight, info.LastBlockAppHash, ha)
		}
		for _, path := range []string{"/summary", "/nodes", "/tasks"} {
			qb, _ := b.Query(ctx, &abcitypes.QueryRequest{Path: path})
			qc, _ := c.Query(ctx, &abcitypes.QueryRequest{Path: path})
			if qc.Code != 0 || !bytes.Equal(qb.Value, qc.Value) {
				t.Fatalf("query %s differs after a restart (code %d %s):\n%s\n%s", path, qc.Code, qc.Log, qb.Value, qc.Value)
			}
		}
	})
}

func containsTx(txs [][]byte, tx []byte) bool {
	for _, x := range txs {
		if bytes.Equal(x, tx) {
			return true
		}
	}
	return false
}

// initChain runs InitChain with appState on a fresh application and
// returns its app hash.
func initChain(t *testing.T, appState []byte) ([]byte, error) {
	a, err := New(Config{ChainID: testChain, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	val := cmted25519.PubKey(pub(key("validator")))
	resp, err := a.InitChain(context.Background(), &abcitypes.InitChainRequest{
		ChainId: testChain, InitialHeight: 1, AppStateBytes: appState,
		Validators: []abcitypes.ValidatorUpdate{abcitypes.NewValidatorUpdate(val, 10)},
	})
	if err != nil {
		return nil, err
	}
	return resp.AppHash, nil
}

// FuzzGenesis feeds bytes as a genesis app_state to api.ParseGenesis and
// InitChain. Checks: a refusal is a numbered ErrBadGenesis or
// ErrInvalidParams; an accepted genesis is one JSON value (or empty),
// survives MarshalJSON → ParseGenesis unchanged with a stable encoding;
// InitChain of the input and of its re-encoding on two fresh
// applications both succeed or both fail, with equal app hashes.
func FuzzGenesis(f *testing.F) {
	admin := pub(key("admin"))
	g := &api.Genesis{Params: api.DefaultParams(), Accounts: []types.GenesisAccount{
		{Address: crypto.Address(admin), PubKey: admin, Roles: []types.Role{types.ROLE_ADMIN, types.ROLE_OPERATOR, types.ROLE_OBSERVER}},
		{Address: crypto.Address(pub(key("obs"))), Roles: []types.Role{types.ROLE_OBSERVER}, ValidatorAddress: crypto.Address(pub(key("validator")))},
	}}
	full, err := g.MarshalJSON()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	f.Add([]byte(`{"accounts":[]}`))
	f.Add([]byte(`{"params":{"heartbeat_interval_ms":1000},"accounts":[{"address":"` + api.AddrHex(crypto.Address(admin)) + `","roles":["admin"]}]}`))
	f.Add([]byte(`{"params":{"down_after_ms":1},"accounts":[]}`))
	f.Add([]byte(`{"accounts":[{"address":"zz","roles":["admin"]}]}`))
	f.Add([]byte(``))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := api.ParseGenesis(b)
		if err != nil {
			var e *api.Error
			if !errors.As(err, &e) || (e != api.ErrBadGenesis && e != api.ErrInvalidParams) || err.Error() == "" {
				t.Fatalf("refusal %q: want a numbered bad genesis or invalid params error", err)
			}
			if _, err2 := api.ParseGenesis(b); err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("refusal not deterministic: %v then %v", err, err2)
			}
			return
		}
		if trimmed := bytes.TrimSpace(b); len(trimmed) > 0 && !json.Valid(trimmed) {
			t.Fatalf("accepted bytes that are not one JSON value: %q", b)
		}
		enc, err := g.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		g2, err := api.ParseGenesis(enc)
		if err != nil {
			t.Fatalf("re-encoded genesis %s refused: %v", enc, err)
		}
		if !reflect.DeepEqual(g.Params, g2.Params) || len(g.Accounts) != len(g2.Accounts) {
			t.Fatalf("round trip changed the genesis:\n%+v\n%+v", g, g2)
		}
		if enc2, _ := g2.MarshalJSON(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
		h1, err1 := initChain(t, b)
		h2, err2 := initChain(t, enc)
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(h1, h2) {
			t.Fatalf("InitChain of the genesis and of its re-encoding differ: %X (%v) and %X (%v)", h1, err1, h2, err2)
		}
	})
}
