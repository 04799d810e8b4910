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
//   - Verify and VerifyBatch accept what ZIP-215 accepts (ADR 0017;
//     curve25519-voi's VerifyOptionsZIP_215, CometBFT's own rule): a
//     superset of crypto/ed25519 (the rule of app version 1), pinned by
//     TestAcceptanceRule. Changing it is a new abci.AppVersion. Signing is
//     plain ed25519 (crypto/ed25519), which every verifier accepts.
//   - VerifyBatch answers, entry by entry, what Verify answers, at about
//     40 % of its cost per signature when they are valid (ADR 0017).
//
// Determinism: this package is imported by the deterministic state machine
// (app/), so it imports only the standard library and curve25519-voi, does
// no I/O, and every function except GenerateKey is a pure function of its
// arguments. The cache of expanded public keys (KeyCacheSize) changes how
// fast Verify is, never its answer; VerifyBatch's random coefficients
// (crypto/rand) change its answer only with probability about 2^-128.
// GenerateKey reads randomness from the reader it is given and must not be
// called from the state machine.
package crypto
