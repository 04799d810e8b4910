// Package client talks to a Phalanx node over CometBFT's RPC (port 26657):
// it builds and signs transactions, broadcasts them and waits for their
// outcome, and runs JSON queries, optionally with Merkle proofs checked
// against the app hash of a signed header. The phalanxd CLI and the worker
// agent both use it; it holds no keys and reads no files.
//
// # Transactions
//
// BuildTx is pure: it serialises a TxBody, signs crypto.SignBytes of it and
// returns the encoded Tx. CheckMsg runs the node's stateless checks
// (api.DecodeTx) locally, so a malformed message fails before anything is
// signed. Broadcast submits the bytes with broadcast_tx_sync; a CheckTx
// rejection comes back at once as a *TxError, otherwise it waits (polling
// the tx index, or scanning blocks when the node keeps no index; with a
// deadline, never a bare sleep) until the transaction is in a block and
// returns its Result; a non-zero DeliverTx code is also a *TxError. It
// stops early with a definite answer when the transaction can no longer be
// included: its timeout_height passed (ErrTxDropped), or another
// transaction of the signer consumed its sequence (code 7, e.g. two
// processes signing with one key through different nodes). When the
// deadline passes the error wraps ErrCommitTimeout: the outcome is
// unknown, and the only safe retry is to Broadcast the same bytes again
// (the sequence makes that idempotent), not to sign a new transaction.
//
// Errors of both kinds match the app's sentinels with errors.Is, e.g.
// errors.Is(err, api.ErrSequenceUsed).
//
// # Sequences
//
// Every transaction carries its signer's next sequence, strictly
// increasing by one. The node's CheckTx keeps, per signer, the next
// sequence given the transactions it already admitted to the mempool since
// the last block, so one signer can put several transactions into one
// block (at most a budget of them per validator, 256 transactions and
// 1 MiB by default: beyond it CheckTx answers code 32 until a block
// commits some; the block lists them in sequence order, ADR 0015), but
// the account query (Account, NextSequence) reads committed state and
// does not count those pending transactions. Hence:
//
//   - A one-off command (the CLI) calls SignAndBroadcast: it reads the
//     account's sequence, signs and broadcasts; if CheckTx says the sequence
//     is already used or skipped (codes 7 and 8: another transaction of the
//     same signer is pending, or was dropped) it waits for the pending one
//     to commit, re-reads the sequence and tries once more; on code 32 it
//     waits for a block and sends the same sequence once more.
//   - A long-lived sender (the worker agent) counts locally with a
//     Sequencer: it starts from the account's sequence and hands out
//     consecutive numbers; after a code 7 or 8 it is Reset from the node.
//
// # Queries
//
// Query decodes the JSON answer of a path of DESIGN §8 (/nodes, /nodes/{id},
// /workloads, /tasks?workload=&node=, /accounts/{addr}, /params, /summary,
// …). QueryProven asks for the stored record behind a single-object path
// with prove=true, waits for the header of the next height (which carries
// the app hash of the queried state), checks that header's commit
// signatures against the validator set the node reports for that height,
// and verifies the ics23 proof against the header's app hash. Without a
// trusted validator set (a light client) this proves that the answer is
// the one the validators signed, as far as the node's view of the
// validator set can be trusted.
package client
