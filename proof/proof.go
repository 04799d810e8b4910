// Package proof checks the Merkle proofs that validators attach to
// abci_query answers (prove=true). It holds only the verification side:
// ics23 over the IAVL tree whose root is the app hash, with none of the
// storage stack (IAVL, goleveldb), so that clients, agents and observers
// can check an answer without compiling in a database.
//
// A caller takes the root from a header it trusts: the app hash in header
// H+1 commits to the state after block H (docs/adr/0003-queries.md).
package proof

import ics23 "github.com/cosmos/ics23/go"

// OpType names the proof format abci_query returns with prove=true: an
// ics23 CommitmentProof over the IAVL tree whose root is the app hash.
const OpType = "ics23:iavl"

// Verify checks an ics23 IAVL proof of key (and value, or its absence when
// value is nil) against root.
func Verify(root []byte, p *ics23.CommitmentProof, key, value []byte) bool {
	if value == nil {
		return ics23.VerifyNonMembership(ics23.IavlSpec, root, p, key)
	}
	return ics23.VerifyMembership(ics23.IavlSpec, root, p, key, value)
}
