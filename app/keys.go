package app

import (
	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
)

// addressOf is the first 20 bytes of SHA-256 of the public key.
func addressOf(pub []byte) []byte { return crypto.Address(pub) }

// addrHex is the upper-case hex form of an address, as users see it and
// as store keys hold it.
func addrHex(addr []byte) string { return api.AddrHex(addr) }
