// Package app is Phalanx's cluster-state machine: accounts and roles,
// worker nodes, workloads and their tasks, parameters and the validator
// set, advanced block by block by signed transactions. It is pure Go with
// no I/O: the caller (abci/) feeds it blocks and persists what it hands
// back, the way etcd's raft is driven.
//
// # Inputs
//
// Raw transactions (DecodeTx turns them into *Tx after the stateless
// checks), the block height, block time (Unix ms, from the header: the only
// clock), block hash, CometBFT misbehaviour evidence and the genesis
// (ParseGenesis, NewState, SetValidators). Nothing else: no wall clock, no
// local configuration.
//
// # What the caller must do
//
//  1. At genesis: NewState(chainID, genesis), SetValidators(InitChain's
//     validators), then persist TakeChanges().
//  2. After a restart: LoadState(chainID, height, every stored record in key
//     order).
//  3. For every block, in order: BeginBlock(block, evidence), DeliverTx for
//     each transaction in block order, EndBlock(), then TakeChanges() and
//     persist the changes together with the height (and app hash) in one
//     atomic, synced write. A nil Value in a change is a deletion.
//  4. In the mempool: DecodeTx, then CheckTx(tx, height+1, seq) with the
//     sequence the caller's check-state tracks for the signer; CheckTx
//     changes nothing.
//
// Calls are not safe for concurrent use; the caller serialises them.
// Query may be called between blocks.
//
// # Failure detection
//
// Nodes are judged from their heartbeats (phi accrual in integers, on a
// detector clock that follows block time but advances at most
// max_clock_step_ms per block) and from observers' HealthReports (a quorum
// of active observers per report window); see detector.go, reports.go and
// docs/failure-detection.md. Transitions caused by a transaction are
// events of its result; those caused by time (deadlines) are EndBlock's
// events. Misbehaviour evidence in BeginBlock removes the validator and
// jails its observer account (genesis validator_address).
//
// # Results
//
// Every rejection is a Result with a numbered code (see errors.go) and a
// message saying what was wrong and what was expected. Ante failures
// (sequence, timeout, jail, role) change nothing. A message that fails
// after the ante check still consumes the signer's sequence, as in the
// Cosmos SDK: a rejected transaction can never be replayed later.
//
// # Determinism
//
// Every validator must compute byte-identical records and results. So this
// package: never reads the clock (time.Now) or math/rand; starts no
// goroutines; iterates maps only through sortedKeys; uses integers for
// everything that decides a transition (floats may appear in query views
// only); bounds every input and collection (limits.go). A broken invariant
// panics rather than let the validators diverge silently.
//
// Subpackages: scheduler (placement feasibility, pure) and health (the
// heartbeat ring, phi accrual in integers, the deadline index; pure).
package app
