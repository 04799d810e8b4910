package abci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/api/cometbft/crypto/v1"
	"github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/libs/log"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/app"
	"github.com/phalanx-bft/phalanx/proof"
	"github.com/phalanx-bft/phalanx/version"
)

// AppVersion is the application protocol version reported in Info; it
// changes when the state machine's rules change. Versions:
//
//  1. the first rules;
//  2. signatures are accepted under ZIP-215 (curve25519-voi, CometBFT's
//     rule) rather than crypto/ed25519's: also non-canonical encodings of
//     keys and R, and signatures only the cofactored equation satisfies
//     (ADR 0017, crypto.TestAcceptanceRule). Every signature version 1
//     accepted is still accepted, so version 1's blocks replay. Version 2
//     also brings the Attest message and params.attested_liveness
//     (ADR 0018), which version 1 never had in a released build.
const AppVersion uint64 = 2

// Config configures the ABCI application.
type Config struct {
	// ChainID must equal the genesis chain id; transactions are checked
	// against it.
	ChainID string
	// DataDir holds the app database (app.db).
	DataDir string
	// KeepBlocks is how many recent state versions stay queryable with
	// proofs; 0 keeps all.
	KeepBlocks int64
	// SignerPendingTxs and SignerPendingBytes are one signer's budget in
	// this validator's mempool: transactions (and their bytes) CheckTx
	// admitted and no block has committed yet (api.ErrSignerBudget
	// beyond). 0 means api.DefaultSignerPendingTxs /
	// api.DefaultSignerPendingBytes. Local policy: no block depends on it.
	SignerPendingTxs   int
	SignerPendingBytes int
	// NonHealthPendingTxs and NonHealthPendingBytes bound the non-health
	// transactions of all signers together in this validator's mempool
	// (api.ErrNonHealthShare beyond). 0 means the api defaults.
	NonHealthPendingTxs   int
	NonHealthPendingBytes int
	// TestCensorTxs makes this validator propose only empty blocks
	// (PrepareProposal returns no transaction), for tests of a censoring
	// validator (phalanxd start --test-censor-txs). Local policy: an
	// empty proposal is valid, and blocks of other proposers are checked
	// as usual.
	TestCensorTxs bool
	Logger        log.Logger
}

// Validate reports a missing or impossible setting.
func (c Config) Validate() error {
	switch {
	case c.ChainID == "":
		return errors.New("abci config: chain id is empty")
	case c.DataDir == "":
		return errors.New("abci config: data dir is empty")
	case c.KeepBlocks < 0:
		return fmt.Errorf("abci config: keep_blocks %d is negative; expected 0 (keep all) or more", c.KeepBlocks)
	case c.SignerPendingTxs < 0 || c.SignerPendingBytes < 0:
		return fmt.Errorf("abci config: signer budget %d txs, %d bytes; expected 0 (the default) or more", c.SignerPendingTxs, c.SignerPendingBytes)
	case c.NonHealthPendingTxs < 0 || c.NonHealthPendingBytes < 0:
		return fmt.Errorf("abci config: non-health share %d txs, %d bytes; expected 0 (the default) or more", c.NonHealthPendingTxs, c.NonHealthPendingBytes)
	}
	return nil
}

// Application adapts app.State to CometBFT's ABCI: it decodes bytes, calls
// app/, maps results to codes and events, and persists state in Store.
type Application struct {
	abcitypes.BaseApplication

	cfg    Config
	logger log.Logger

	mu    sync.Mutex
	store *Store
	state *app.State // nil until InitChain on a fresh chain

	// pending holds, per signer address, the transactions CheckTx admitted
	// that no block has committed yet (mempool.go): the sequences, their
	// bytes and the next sequence CheckTx expects. Commit clears it; the
	// recheck of the mempool's remaining transactions rebuilds it.
	pending map[string]*signerPending
	// nonHealthTxs and nonHealthBytes count the pending transactions
	// other than health ones, of all signers (the mempool's share for
	// them); cleared with pending and rebuilt by the recheck.
	nonHealthTxs, nonHealthBytes int

	// sigs remembers verified signatures across CheckTx, ProcessProposal
	// and FinalizeBlock.
	sigs *sigCache
	// noPreverify turns off the batched, parallel verification of a
	// block's signatures (sigverify.go): a benchmark's baseline only.
	noPreverify bool

	// view serves JSON queries (view.go); finalized is the block
	// FinalizeBlock applied, handed to the view once Commit made it
	// durable.
	view      *queryView
	finalized *committedBlock

	// halted is what the state machine panicked with in FinalizeBlock (a
	// broken invariant, app/invariants.go), "" if it did not. The
	// consensus state then holds a half-applied block: no block is applied
	// to it and CheckTx refuses. JSON queries still come from the query
	// view, at the last committed height, which the halted block never
	// reached. A restart reloads the last commit (and replays the block,
	// halting again until the software is fixed).
	halted string
}

var _ abcitypes.Application = (*Application)(nil)

// New opens the app database and loads the last committed state.
func New(cfg Config) (*Application, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewNopLogger()
	}
	store, err := OpenStore(cfg.DataDir, cfg.KeepBlocks)
	if err != nil {
		return nil, err
	}
	if cfg.SignerPendingTxs == 0 {
		cfg.SignerPendingTxs = api.DefaultSignerPendingTxs
	}
	if cfg.SignerPendingBytes == 0 {
		cfg.SignerPendingBytes = api.DefaultSignerPendingBytes
	}
	if cfg.NonHealthPendingTxs == 0 {
		cfg.NonHealthPendingTxs = api.DefaultNonHealthPendingTxs
	}
	if cfg.NonHealthPendingBytes == 0 {
		cfg.NonHealthPendingBytes = api.DefaultNonHealthPendingBytes
	}
	a := &Application{cfg: cfg, logger: cfg.Logger, store: store, pending: map[string]*signerPending{}, sigs: newSigCache()}
	if v := store.Version(); v > 0 {
		records, err := store.Records()
		if err != nil {
			_ = store.Close()
			return nil, fmt.Errorf("read state at height %d: %w", v, err)
		}
		a.state, err = app.LoadState(cfg.ChainID, v, records)
		if err != nil {
			_ = store.Close()
			return nil, fmt.Errorf("load state at height %d: %w", v, err)
		}
		viewState, err := app.LoadState(cfg.ChainID, v, records)
		if err != nil {
			_ = store.Close()
			return nil, fmt.Errorf("load query view at height %d: %w", v, err)
		}
		a.view = newQueryView(viewState, a.decode, a.logger)
		a.logger.Info("loaded app state", "height", v, "app_hash", fmt.Sprintf("%X", store.Hash()), "records", len(records))
	}
	return a, nil
}

// Close stops the query view and releases the database. Call it after the
// node has stopped.
func (a *Application) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.view != nil {
		a.view.close()
		a.view = nil
	}
	return a.store.Close()
}

// Info tells CometBFT the last committed height and app hash so that its
// handshake replays exactly the blocks the app has not committed.
func (a *Application) Info(context.Context, *abcitypes.InfoRequest) (*abcitypes.InfoResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	resp := &abcitypes.InfoResponse{
		Data:       "phalanx",
		Version:    version.Version,
		AppVersion: AppVersion,
	}
	if v := a.store.Version(); v > 0 {
		resp.LastBlockHeight = v
		resp.LastBlockAppHash = a.store.Hash()
	}
	return resp, nil
}

// InitChain builds the genesis state from app_state and stages it; its
// hash is the app hash of the first block's header.
func (a *Application) InitChain(_ context.Context, req *abcitypes.InitChainRequest) (*abcitypes.InitChainResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if req.ChainId != a.cfg.ChainID {
		return nil, fmt.Errorf("init chain: genesis chain id %q differs from configured %q", req.ChainId, a.cfg.ChainID)
	}
	g, err := api.ParseGenesis(req.AppStateBytes)
	if err != nil {
		return nil, fmt.Errorf("init chain: %w", err)
	}
	st, err := app.NewState(a.cfg.ChainID, g)
	if err != nil {
		return nil, fmt.Errorf("init chain: %w", err)
	}
	vals := make([]app.ValidatorUpdate, 0, len(req.Validators))
	for _, v := range req.Validators {
		if v.PubKeyType != ed25519.KeyType {
			return nil, fmt.Errorf("init chain: validator key type %q; expected %q", v.PubKeyType, ed25519.KeyType)
		}
		vals = append(vals, app.ValidatorUpdate{PubKey: v.PubKeyBytes, Power: v.Power})
	}
	st.SetValidators(vals)
	a.store.SetInitialVersion(req.InitialHeight)
	hash, err := a.store.Apply(st.TakeChanges())
	if err != nil {
		return nil, fmt.Errorf("init chain: %w", err)
	}
	viewState, err := app.NewState(a.cfg.ChainID, g)
	if err != nil {
		return nil, fmt.Errorf("init chain: query view: %w", err)
	}
	viewState.SetValidators(vals)
	viewState.TakeChanges()
	if a.view != nil {
		a.view.close()
	}
	a.view = newQueryView(viewState, a.decode, a.logger)
	a.state = st
	return &abcitypes.InitChainResponse{AppHash: hash}, nil
}

// FinalizeBlock applies the decided block: evidence, transactions in
// order, the end-of-block pass; then stages the changes and returns the
// resulting app hash.
//
// If the state machine panics (a broken invariant: "app: invariant
// violated at height H: ..."), FinalizeBlock logs it, marks the
// application halted and panics again: CometBFT's consensus routine
// recovers it, logs CONSENSUS FAILURE and stops (block sync and the
// start-up replay do not recover: the process exits). Nothing of the block
// was staged, so no app hash is returned or signed for it, and Commit
// never comes; the store stays at the last committed height.
func (a *Application) FinalizeBlock(_ context.Context, req *abcitypes.FinalizeBlockRequest) (*abcitypes.FinalizeBlockResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state == nil {
		return nil, errors.New("finalize block: chain not initialised")
	}
	if a.halted != "" {
		return nil, fmt.Errorf("finalize block %d: app halted: %s", req.Height, a.halted)
	}
	defer func() {
		if r := recover(); r != nil {
			a.halted = fmt.Sprint(r)
			a.logger.Error("state machine halted: nothing of this block is committed; fix the software and restart", "height", req.Height, "panic", a.halted)
			panic(r)
		}
	}()
	if want := a.state.Height() + 1; req.Height != want && a.state.Height() != 0 {
		return nil, fmt.Errorf("finalize block: height %d; expected %d", req.Height, want)
	}
	block := app.Block{Height: req.Height, TimeMs: req.Time.UnixMilli(), Hash: req.Hash}
	evidence := make([]app.Misbehavior, 0, len(req.Misbehavior))
	for _, m := range req.Misbehavior {
		kind := "duplicate_vote"
		if m.Type == abcitypes.MISBEHAVIOR_TYPE_LIGHT_CLIENT_ATTACK {
			kind = "light_client_attack"
		}
		evidence = append(evidence, app.Misbehavior{Type: kind, ValidatorAddress: m.Validator.Address, Height: m.Height})
	}
	blockEvents := toABCIEvents(a.state.BeginBlock(block, evidence))

	// The signatures of transactions neither CheckTx nor ProcessProposal
	// saw (a block synced or replayed, or a proposal this validator
	// did not process) are verified here in batches on all cores; the
	// apply below finds them cached.
	a.preverify(req.Txs)
	results := make([]*abcitypes.ExecTxResult, len(req.Txs))
	for i, raw := range req.Txs {
		tx, err := a.decode(raw)
		if err != nil {
			results[i] = &abcitypes.ExecTxResult{Code: api.CodeOf(err), Log: err.Error(), Data: app.EventsDigest(nil)}
			continue
		}
		r := a.state.DeliverTx(tx)
		// Data is the digest of the events: the next header's
		// last_results_hash covers it (watch --verify).
		results[i] = &abcitypes.ExecTxResult{Code: r.Code, Log: r.Log, Data: app.EventsDigest(r.Events), Events: toABCIEvents(r.Events)}
	}

	end := a.state.EndBlock()
	blockEvents = append(blockEvents, toABCIEvents(end.Events)...)
	changes := a.state.TakeChanges()
	hash, err := a.store.Apply(changes)
	if err != nil {
		return nil, fmt.Errorf("finalize block %d: %w", req.Height, err)
	}
	a.finalized = &committedBlock{
		block:    app.Block{Height: block.Height, TimeMs: block.TimeMs, Hash: bytes.Clone(block.Hash)},
		evidence: evidence, txs: req.Txs, changes: changes,
	}
	updates := make([]abcitypes.ValidatorUpdate, 0, len(end.ValidatorUpdates))
	for _, u := range end.ValidatorUpdates {
		updates = append(updates, abcitypes.ValidatorUpdate{Power: u.Power, PubKeyType: ed25519.KeyType, PubKeyBytes: u.PubKey})
	}
	return &abcitypes.FinalizeBlockResponse{
		Events:           blockEvents,
		TxResults:        results,
		ValidatorUpdates: updates,
		AppHash:          hash,
	}, nil
}

// Commit makes the finalized block's state durable (one synced batch that
// also records the height and root) and resets the mempool's sequence view.
func (a *Application) Commit(context.Context, *abcitypes.CommitRequest) (*abcitypes.CommitResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.halted != "" {
		return nil, fmt.Errorf("commit: app halted: %s", a.halted)
	}
	_, version, err := a.store.Commit()
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	if version != a.state.Height() {
		panic(fmt.Sprintf("commit: store version %d differs from state height %d", version, a.state.Height()))
	}
	clear(a.pending)
	a.nonHealthTxs, a.nonHealthBytes = 0, 0
	if a.finalized != nil {
		a.view.push(*a.finalized)
		a.finalized = nil
	}
	return &abcitypes.CommitResponse{}, nil
}

// Query serves the JSON paths of DESIGN §8 from the query view (view.go)
// at the last committed height, or at req.Height if it is that height; and
// with prove=true the stored record behind a single-object path, with an
// ics23 proof against the app hash at that height (found in header
// height+1). A JSON query holds none of the locks that FinalizeBlock,
// CheckTx and Commit take.
func (a *Application) Query(_ context.Context, req *abcitypes.QueryRequest) (*abcitypes.QueryResponse, error) {
	if req.Prove || req.Path == "/store" {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.state == nil {
			return queryError(api.ErrNotFound, "chain not initialised yet"), nil
		}
		return a.queryProof(req), nil
	}
	a.mu.Lock()
	view, committed := a.view, a.store.Version()
	a.mu.Unlock()
	if view == nil {
		return queryError(api.ErrNotFound, "chain not initialised yet"), nil
	}
	height := committed
	if req.Height != 0 {
		if req.Height > committed {
			return &abcitypes.QueryResponse{Code: api.CodeOf(api.ErrNotFound), Height: committed,
				Log: fmt.Sprintf("height %d is not committed yet; the last committed height is %d", req.Height, committed)}, nil
		}
		height = req.Height
	}
	out, h, err := view.query(req.Path, height, req.Height != 0)
	if err != nil {
		return &abcitypes.QueryResponse{Code: api.CodeOf(err), Log: err.Error(), Height: h}, nil
	}
	return &abcitypes.QueryResponse{Value: out, Height: h}, nil
}

func (a *Application) queryProof(req *abcitypes.QueryRequest) *abcitypes.QueryResponse {
	key := req.Data
	if req.Path != "/store" {
		var ok bool
		if key, ok = app.StoreKeyForPath(req.Path); !ok {
			return queryError(api.ErrNotFound, fmt.Sprintf("path %q has no single stored record to prove; expected /nodes/{id}, /workloads/{name}, /tasks/{workload}/{index}, /accounts/{addr}, /validators/{addr}, /params, /blockinfo or /store with data=key", req.Path))
		}
	}
	if len(key) == 0 {
		return queryError(api.ErrNotFound, "empty store key; expected data=key with path /store")
	}
	height := req.Height
	if height == 0 {
		height = a.store.Version()
	}
	value, cp, err := a.store.GetWithProof(key, height)
	if err != nil {
		return queryError(api.ErrNotFound, err.Error())
	}
	data, err := cp.Marshal()
	if err != nil {
		return queryError(api.ErrInternal, err.Error())
	}
	resp := &abcitypes.QueryResponse{
		Key:      key,
		Value:    value,
		Height:   height,
		ProofOps: &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: proof.OpType, Key: key, Data: data}}},
	}
	if value == nil {
		resp.Log = "does not exist (absence proven)"
	}
	return resp
}

// decode runs api.DecodeTx's stateless checks with cached signature
// verification.
func (a *Application) decode(raw []byte) (*api.Tx, error) {
	return api.DecodeTxWith(raw, a.cfg.ChainID, a.sigs.verify)
}

func queryError(sentinel error, msg string) *abcitypes.QueryResponse {
	return &abcitypes.QueryResponse{Code: api.CodeOf(sentinel), Log: msg}
}

// toABCIEvents converts app events; every attribute is indexed so that
// tx_search and websocket subscriptions can select on it.
func toABCIEvents(evs []app.Event) []abcitypes.Event {
	if len(evs) == 0 {
		return nil
	}
	out := make([]abcitypes.Event, len(evs))
	for i, e := range evs {
		attrs := make([]abcitypes.EventAttribute, len(e.Attributes))
		for j, at := range e.Attributes {
			attrs[j] = abcitypes.EventAttribute{Key: at.Key, Value: at.Value, Index: true}
		}
		out[i] = abcitypes.Event{Type: e.Type, Attributes: attrs}
	}
	return out
}
