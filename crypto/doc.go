// Package crypto holds Phalanx's signing and address rules: what a
// transaction signature covers and how a public key becomes an account
// address.
//
// Contract:
//
//   - Keys are ed25519 (the standard library's crypto/ed25519 types are used
//     directly; there are no wrapper types).
//   - A signature covers SignBytes(bodyBytes) = SignDomain || bodyBytes, where
//     SignDomain is "phalanx/tx/v1\x00". The domain prefix keeps a Phalanx
//     transaction signature from being valid for any other message the same
//     key signs (and vice versa); the trailing NUL ends the prefix.
//   - An address is the first AddressLen (20) bytes of SHA-256(pub key), the
//     same rule CometBFT's crypto/ed25519 PubKey.Address uses, and is shown as
//     upper-case hex (AddressHex). ParseAddress accepts either case.
//   - Verify never panics on malformed input: a public key that is not
//     PubKeyLen bytes or a signature that is not SignatureLen bytes is simply
//     invalid.
//
// Determinism: this package is imported by the deterministic state machine
// (app/), so it imports the standard library only, does no I/O, and every
// function except GenerateKey is a pure function of its arguments.
// GenerateKey reads randomness from the reader it is given and must not be
// called from the state machine.
package crypto
