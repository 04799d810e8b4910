// Package api is Phalanx's wire API: everything a client, a worker agent or
// an observer needs to talk to the chain, apart from the state machine that
// implements it (as etcd's raftpb stands apart from raft).
//
// It holds:
//   - the stateless checks of a transaction (DecodeTx, ValidateWorkloadSpec,
//     ValidateParams): a client runs them before it signs, and every
//     validator runs the same code in CheckTx, ProcessProposal and
//     FinalizeBlock;
//   - the numbered errors (errors.go) that results and query answers carry,
//     and CodeOf: clients match them with errors.Is;
//   - every limit (limits.go);
//   - the JSON answers of the query paths (views.go), the workload spec
//     file format (spec.go), the genesis app_state (genesis.go) and the
//     parameters (params.go);
//   - event types, attributes and reasons (events.go);
//   - the answers of an agent's HTTP endpoint (agent.go).
//
// It imports only the generated types and crypto, so that consumers do not
// compile in the state machine or its storage (a test, TestLayering,
// enforces it). Proofs are checked by package proof.
//
// Everything here that the state machine applies is consensus code: the
// determinism rules of app/doc.go hold (app's TestDeterminismRules checks
// this package too). Changing a limit, a code or a validation rule is a
// consensus change.
package api
