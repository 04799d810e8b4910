package api

import (
	"encoding/hex"
	"strings"

	"github.com/phalanx-bft/phalanx/crypto"
)

// AddressLen is the length of an account address.
const AddressLen = crypto.AddressLen

// PubKeyLen is the length of an ed25519 public key.
const PubKeyLen = crypto.PubKeyLen

// SignatureLen is the length of an ed25519 signature.
const SignatureLen = crypto.SignatureLen

// addressOf is the first 20 bytes of SHA-256 of the public key.
func addressOf(pub []byte) []byte { return crypto.Address(pub) }

// AddrHex is the upper-case hex form of an address, as shown to users and
// used in store keys.
func AddrHex(addr []byte) string {
	return strings.ToUpper(hex.EncodeToString(addr))
}

// ParseAddrHex accepts upper-, lower- or mixed-case hex of exactly
// AddressLen bytes.
func ParseAddrHex(s string) ([]byte, bool) {
	b, err := crypto.ParseAddress(s)
	return b, err == nil
}
