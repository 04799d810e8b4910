package crypto

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"github.com/oasisprotocol/curve25519-voi/primitives/ed25519/extra/cache"
)

// SignDomain prefixes the bytes every transaction signature covers.
const SignDomain = "phalanx/tx/v1\x00"

// Sizes, in bytes.
const (
	// AddressLen is the length of an account address.
	AddressLen = 20
	// PubKeyLen is the length of an ed25519 public key.
	PubKeyLen = ed25519.PublicKeySize
	// PrivKeyLen is the length of an ed25519 private key (seed || public key).
	PrivKeyLen = ed25519.PrivateKeySize
	// SignatureLen is the length of an ed25519 signature.
	SignatureLen = ed25519.SignatureSize
)

// ErrInvalidAddress is returned (wrapped) by ParseAddress.
var ErrInvalidAddress = errors.New("invalid address")

// ErrInvalidPubKey is returned (wrapped) by ValidatePubKey.
var ErrInvalidPubKey = errors.New("invalid public key")

// SignBytes returns SignDomain || bodyBytes in a newly allocated slice: the
// exact bytes a transaction signature covers.
func SignBytes(bodyBytes []byte) []byte {
	out := make([]byte, 0, len(SignDomain)+len(bodyBytes))
	out = append(out, SignDomain...)
	return append(out, bodyBytes...)
}

// GenerateKey creates an ed25519 key pair from the first 32 bytes read from
// rand, or from a secure random source when rand is nil. Not for use inside
// the state machine.
func GenerateKey(rand io.Reader) (ed25519.PublicKey, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, nil, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return pub, priv, nil
}

// Sign signs SignBytes(bodyBytes) with priv. It panics if priv is not
// PrivKeyLen bytes long, as crypto/ed25519 does: that is a programming
// error, not an input error.
func Sign(priv ed25519.PrivateKey, bodyBytes []byte) []byte {
	if len(priv) != PrivKeyLen {
		panic(fmt.Sprintf("crypto.Sign: private key is %d bytes, want %d", len(priv), PrivKeyLen))
	}
	return ed25519.Sign(priv, SignBytes(bodyBytes))
}

// KeyCacheSize bounds the cache of expanded public keys (about 1.5 KiB
// each, so about 25 MiB when full) that Verify and VerifyBatch share: room
// for the signers of several full blocks. Expanding a key (decompressing
// it, precomputing its multiples) is a sizeable part of a verification; a
// signer seen again skips it. CometBFT's own
// ed25519 keeps 4,096 (its validators); Phalanx's signers are its nodes.
const KeyCacheSize = 16384

// verifyOptions is the acceptance rule (ADR 0017): ZIP-215, CometBFT's.
// It accepts every signature crypto/ed25519 accepts and, beyond those,
// non-canonical encodings of A and R and signatures that only the
// cofactored equation [8][S]B = [8]R + [8][k]A satisfies; it rejects a
// non-canonical S as crypto/ed25519 does. Under it a batch verification
// agrees with verifying each signature alone, so the batch may decide.
// Changing it changes which transactions are valid: a new
// abci.AppVersion.
var verifyOptions = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

// keyCache holds expanded public keys (safe for concurrent use; least
// recently used evicted first). It changes how fast a verification is,
// never its answer.
var keyCache = cache.NewVerifier(cache.NewLRUCache(KeyCacheSize))

// Verify reports whether sig is pub's signature of SignBytes(bodyBytes)
// under the acceptance rule of ADR 0017 (ZIP-215). A pub that is not
// PubKeyLen bytes or a sig that is not SignatureLen bytes is reported as
// invalid; Verify never panics. Safe for concurrent use.
func Verify(pub, bodyBytes, sig []byte) bool {
	if len(pub) != PubKeyLen || len(sig) != SignatureLen {
		return false
	}
	bp := signBuffers.Get().(*[]byte)
	msg := append(append((*bp)[:0], SignDomain...), bodyBytes...)
	ok := verifyMessage(pub, msg, sig)
	if cap(msg) <= maxPooledSignBytes {
		*bp = msg
		signBuffers.Put(bp)
	}
	return ok
}

// maxPooledSignBytes bounds the buffers signBuffers keeps: a heartbeat's
// sign bytes fit many times; a rare large transaction's buffer is left to
// the garbage collector.
const maxPooledSignBytes = 4096

// signBuffers holds buffers for Verify's SignBytes, which the verifier
// only reads before Verify returns.
var signBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// verifyMessage is Verify of a whole message (no domain prefix added).
func verifyMessage(pub, msg, sig []byte) bool {
	return keyCache.VerifyWithOptions(voi.PublicKey(pub), msg, sig, verifyOptions)
}

// VerifyBatch reports, for each i, whether sigs[i] is pubs[i]'s signature
// of SignBytes(bodies[i]): exactly what Verify(pubs[i], bodies[i],
// sigs[i]) reports, at a lower cost per signature when they are valid.
// It checks the whole batch in one multi-scalar multiplication and, if
// that fails, each signature alone to find the invalid ones. The three
// slices must have the same length (it panics otherwise: a programming
// error). Safe for concurrent use; callers parallelise by splitting the
// batch.
func VerifyBatch(pubs, bodies, sigs [][]byte) []bool {
	if len(pubs) != len(bodies) || len(pubs) != len(sigs) {
		panic(fmt.Sprintf("crypto.VerifyBatch: %d keys, %d bodies, %d signatures", len(pubs), len(bodies), len(sigs)))
	}
	msgs := make([][]byte, len(bodies))
	for i, b := range bodies {
		msgs[i] = SignBytes(b)
	}
	return verifyMessages(pubs, msgs, sigs)
}

// verifyMessages is VerifyBatch of whole messages.
func verifyMessages(pubs, msgs, sigs [][]byte) []bool {
	valid := make([]bool, len(pubs))
	// Entries of the wrong length never reach the batch; the others go
	// in at their index in idx.
	idx := make([]int, 0, len(pubs))
	for i := range pubs {
		if len(pubs[i]) == PubKeyLen && len(sigs[i]) == SignatureLen {
			idx = append(idx, i)
		}
	}
	switch len(idx) {
	case 0:
		return valid
	case 1:
		i := idx[0]
		valid[i] = verifyMessage(pubs[i], msgs[i], sigs[i])
		return valid
	}
	bv := voi.NewBatchVerifierWithCapacity(len(idx))
	for _, i := range idx {
		keyCache.AddWithOptions(bv, voi.PublicKey(pubs[i]), msgs[i], sigs[i], verifyOptions)
	}
	// The batch's random coefficients come from crypto/rand: they make a
	// forged batch pass with probability about 2^-128, and do not
	// otherwise change the answer.
	_, ok := bv.Verify(nil)
	for j, i := range idx {
		valid[i] = ok[j]
	}
	return valid
}

// ValidatePubKey checks that pub has the length of an ed25519 public key.
// The returned error wraps ErrInvalidPubKey.
func ValidatePubKey(pub []byte) error {
	if len(pub) != PubKeyLen {
		return fmt.Errorf("%w: got %d bytes, want %d (ed25519)", ErrInvalidPubKey, len(pub), PubKeyLen)
	}
	return nil
}

// Address returns the first AddressLen bytes of SHA-256(pub), CometBFT's
// address rule. It hashes whatever it is given; callers that take pub from
// untrusted input check it with ValidatePubKey first.
func Address(pub []byte) []byte {
	sum := sha256.Sum256(pub)
	return sum[:AddressLen:AddressLen]
}

// AddressHex returns Address(pub) as upper-case hex (40 characters).
func AddressHex(pub []byte) string {
	return strings.ToUpper(hex.EncodeToString(Address(pub)))
}

// ParseAddress decodes a hex address of exactly AddressLen bytes (40 hex
// characters, upper, lower or mixed case, no prefix). The returned error
// wraps ErrInvalidAddress.
func ParseAddress(s string) ([]byte, error) {
	if len(s) != 2*AddressLen {
		return nil, fmt.Errorf("%w %q: got %d characters, want %d hex characters (%d bytes)",
			ErrInvalidAddress, s, len(s), 2*AddressLen, AddressLen)
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return nil, fmt.Errorf("%w %q: character %q at position %d is not a hex digit (want 0-9, A-F or a-f)",
				ErrInvalidAddress, s, s[i], i)
		}
	}
	addr, err := hex.DecodeString(s)
	if err != nil { // unreachable after the checks above; kept for safety.
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidAddress, s, err)
	}
	return addr, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
