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
// # The end-of-block check and the halt
//
// EndBlock ends by checking the invariants of every record the block
// touched (the records TakeChanges will return) and of the indexes and
// counters that refer to them, against the state at the end of the
// previous block (invariants.go): allocations within capacity and equal
// to the node's active tasks, tasks on their node's list, generations
// never decreasing, one task per workload index, the pending and parked
// counts, the node list, the observer caches. It costs O(touched
// records). A violation is a bug in this package, never a user's error:
// EndBlock panics with "app: invariant violated at height H: ..." before
// the block's changes are handed out. The caller must not recover and go
// on: it must not persist the block, answer from the state, or apply
// another block to it, but stop, as abci/ does (FinalizeBlock marks the
// application halted and panics again; CometBFT stops consensus). A
// restart loads the last committed height and replays the block, which
// halts again until the software is fixed: the validator stops rather
// than sign an app hash computed from a broken state. The same holds for
// the other panics of this package (BeginBlock out of order, a negative
// allocation).
//
// # Failure detection
//
// Nodes are judged from their heartbeats (phi accrual in integers, on a
// detector clock that follows block time but advances at most
// max_clock_step_ms per block) and from observers' HealthReports (a quorum
// of active observers per report window); see detector.go, reports.go and
// docs/failure-detection.md. Transitions caused by a transaction are
// events of its result; those caused by time (deadlines) are EndBlock's
// events; the evictions they call for are EndBlock's in both cases.
// Misbehaviour evidence in BeginBlock removes the validator and jails its
// observer account (genesis validator_address).
//
// # Scheduling and self-healing
//
// Transactions change the desired state (workloads, cordons, drains) and
// the observed state (heartbeats, reports); EndBlock's reconcile pass does
// all the moving (but for RemoveNode with force, which evicts the removed
// node's tasks itself, unpaced, before the node goes), in one order (DESIGN §6, EndBlock in block.go,
// reconcile.go, docs/scheduling.md): failure detection, evictions from
// Down, Quarantined, draining (and, under partition_policy evict,
// Partitioned) nodes, restarts with exponential backoff in block time,
// rolling updates, then placement by scheduler.Place, at most
// max_placements_per_block, highest priority and oldest first. Evictions
// are paced (evict.go, ADR 0012): at most max_evictions_per_block, and a
// failed node's tasks go when its zone's token bucket, refilled in block
// time at a rate set by the zone's health (Kubernetes' node lifecycle
// rules: normal, partial or full disruption; nothing while every zone is
// dark), lets the node go; one node lost in a zone goes at once. Every
// (re)placement and eviction gives the task a new generation, its fencing
// token: a heartbeat reporting another generation is answered with
// task_stop. A task that fits nowhere stays Pending with the scheduler's
// explanation, which /workloads/{name} aggregates. Each step's cost
// follows what changed: marked nodes, due restarts, rolling workloads
// whose tasks changed, and workloads with pending tasks that could fit
// (the scheduling epoch); an idle block at 10,000 nodes and 100,000 tasks
// costs about 2 µs.
//
// # Results
//
// Every rejection is a Result with a numbered code (see errors.go) and a
// message saying what was wrong and what was expected. Ante failures
// (admission: unknown signer, sequence, timeout, jail, role; ADR 0014)
// change nothing. A message that fails after the ante check changes
// nothing but the signer's sequence, which it consumes, as in the Cosmos
// SDK: a rejected transaction can never be replayed later. No failed or
// unauthorised transaction creates an account: the only signer admitted
// without one is a node registering itself, whose account the
// registration creates.
//
// # Determinism
//
// Every validator must compute byte-identical records and results. So this
// package: never reads the clock (time.Now) or math/rand; starts no
// goroutines; iterates maps only through sortedKeys; uses integers for
// everything that decides a transition (floats may appear in query views
// only); bounds every input and collection (limits.go); keeps in memory
// only indexes that LoadState rebuilds from the records and that cannot
// change a decision (what can, like the scheduling epoch that lets the
// pass skip the scheduler, is a record). A broken invariant panics rather
// than let the validators diverge silently. The store keys, how each
// record loads, and the query path that proves it are one table,
// recordTypes (records.go).
//
// Subpackages: scheduler (placement: feasibility checks, ranking, the
// explanation of a task that fits nowhere; pure) and health (the heartbeat
// ring, phi accrual in integers, the deadline index; pure).
package app
