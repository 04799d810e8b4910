package crypto

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
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

// Verify reports whether sig is pub's signature of SignBytes(bodyBytes). A
// pub that is not PubKeyLen bytes or a sig that is not SignatureLen bytes is
// reported as invalid; Verify never panics.
func Verify(pub, bodyBytes, sig []byte) bool {
	if len(pub) != PubKeyLen || len(sig) != SignatureLen {
		return false
	}
	return ed25519.Verify(ed25519.PublicKey(pub), SignBytes(bodyBytes), sig)
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
