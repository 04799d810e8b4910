// Package abci adapts Phalanx's state machine (package app) to CometBFT's
// ABCI 2.0 and keeps its state: Application decodes the bytes CometBFT
// hands it, calls app, maps the results to result codes and events, and
// stores the records in Store, an IAVL tree on goleveldb whose root is the
// app hash. It holds no rules of its own: what a transaction does, and
// whether it is valid, app decides.
//
// # Contract
//
//   - CheckTx (the mempool) runs api.DecodeTx, the stateless checks
//     (with the size limit of the message's type, code 33), and
//     app.State.CheckTx, the stateful ante check, against a per-signer
//     view of the transactions it admitted since the last Commit
//     (mempool.go): their sequences and bytes. A new transaction must carry
//     the signer's next sequence counting those, and a signer has at most
//     its budget (app.toml signer_pending_txs / signer_pending_bytes) of
//     them (code 32). Commit clears the view; CometBFT's recheck of the
//     remaining transactions (CHECK_TX_TYPE_RECHECK) rebuilds it, keeping
//     a transaction whatever its list order if its sequence is neither
//     committed nor pending twice. CheckTx changes no state. A rejection
//     is the app's numbered code (api/errors.go) with its message in Log.
//   - PrepareProposal drops what fails api.DecodeTx, puts each signer's
//     transactions in sequence order (in that signer's slots of the
//     mempool order; a committed or repeated sequence and everything
//     after a gap are dropped), health transactions (api.IsHealthMsg)
//     first, and caps the other transactions at
//     api.NonHealthBlockSharePercent of MaxTxBytes and
//     api.MaxNonHealthBlockBytes (ADR 0015).
//   - ProcessProposal accepts a block only if every transaction passes
//     api.DecodeTx, each signer's sequences strictly increase, no health
//     transaction follows a non-health one of another signer, and the
//     non-health transactions total at most api.MaxNonHealthBlockBytes.
//     It decides from the bytes alone and runs no stateful check (a
//     transaction that then fails in DeliverTx is kept in the block with
//     its code).
//   - FinalizeBlock runs app's BeginBlock (block time, hash, misbehaviour
//     evidence), api.DecodeTx and DeliverTx for each transaction in order,
//     and EndBlock; it stages the changed records in the tree and returns
//     the working root as the app hash, with app's validator updates.
//     Every event attribute is indexed (tx_search, websocket queries).
//   - Commit saves that version in one synced write (records, root and
//     height together), so a crash leaves the store at a block boundary;
//     Info then reports that height and hash, and CometBFT's handshake
//     replays exactly the blocks after it. Commit panics if the store's
//     version and the state's height disagree.
//   - A panic of the state machine in FinalizeBlock (a broken invariant,
//     app/invariants.go) marks the Application halted and is re-raised:
//     CometBFT stops, nothing of the block is staged or committed.
//   - Query answers app's JSON paths from the query view (view.go, ADR
//     0013): a second app.State that replays each committed block after
//     Commit and checks it changed the same records; a query holds only
//     the view's lock, never the one FinalizeBlock, CheckTx and Commit
//     take. A query without a height waits (at most 5 s) for the view to
//     reach the height committed when it arrived. With prove=true (or
//     path /store) it returns the stored record at a committed height with
//     an ics23 proof (proof.OpType) against that height's app hash, which
//     CometBFT records in the header of height+1. proof.Verify checks one;
//     clients must check every proven answer against a header they trust.
//   - A signature verified once (in CheckTx or ProcessProposal) is not
//     verified again in FinalizeBlock: a bounded cache of verified
//     (public key, body, signature) triples, which cannot change a result.
//   - ProcessProposal and FinalizeBlock first verify the signatures the
//     cache does not hold in batches (crypto.VerifyBatch) on GOMAXPROCS
//     goroutines and cache those that verify (sigverify.go, ADR 0017);
//     the sequential decoding and apply that follow decide, so the
//     workers change a block's cost, never its result.
//
// # What the caller must do
//
//  1. Build the Application with New(Config): ChainID equal to the
//     genesis chain id, DataDir for app.db, KeepBlocks for pruning (0
//     keeps every version, which proofs at old heights need).
//  2. Give it to CometBFT in-process with proxy.NewUnsyncLocalClientCreator
//     (node/ does): the Application serialises CheckTx, PrepareProposal
//     (which reads the committed sequences), FinalizeBlock, Commit, Info
//     and InitChain with its own mutex; ProcessProposal reads no state; Query takes the view's lock. A synchronised local client
//     would make every query wait for (and delay) FinalizeBlock again.
//  3. Keep the mempool's recheck on (node.DefaultCometConfig does): the
//     per-signer view is rebuilt from it after every Commit.
//  4. Close it after the CometBFT node has stopped, never before.
//  5. To roll back (phalanxd rollback), with the node stopped: roll
//     CometBFT's state back, then OpenStore and Store.RollbackTo the
//     height it kept, so that app and CometBFT agree at the next start.
//
// Determinism is app's: this package adds no decision, reads no clock
// (block time comes from the request) and iterates no map to decide. Its
// only goroutines are the signature workers above, whose outcome does not
// depend on their scheduling.
package abci
