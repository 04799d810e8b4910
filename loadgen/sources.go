package loadgen

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/types"
)

// JunkEvidence is the attack of issue 10: each transaction is a
// ReportEquivocation of two random byte strings of Size/2 bytes each,
// signed by a key nobody has seen before (derived from Seed and the
// transaction's index, so a flood can be replayed).
type JunkEvidence struct {
	ChainID string
	Seed    uint64
	Size    int // bytes of junk per transaction, at most MaxJunkBytes
}

// MaxJunkBytes bounds JunkEvidence.Size.
const MaxJunkBytes = 1 << 20

// Ordered: every transaction has its own signer.
func (JunkEvidence) Ordered() bool { return false }

// Next builds junk evidence number i.
func (j JunkEvidence) Next(i int) ([]byte, error) {
	if j.Size < 2 || j.Size > MaxJunkBytes {
		return nil, fmt.Errorf("loadgen: junk size %d; expected 2..%d bytes", j.Size, MaxJunkBytes)
	}
	rng := rand.New(rand.NewPCG(j.Seed, uint64(i)))
	var seed [ed25519.SeedSize]byte
	for k := range seed {
		seed[k] = byte(rng.UintN(256))
	}
	priv := ed25519.NewKeyFromSeed(seed[:])
	junk := func() []byte {
		b := make([]byte, j.Size/2+8)
		for k := 0; k+8 <= len(b); k += 8 {
			binary.LittleEndian.PutUint64(b[k:], rng.Uint64())
		}
		return b[:j.Size/2]
	}
	return client.BuildTx(j.ChainID, 0, 0, "", &types.TxBody_ReportEquivocation{
		ReportEquivocation: &types.ReportEquivocation{TxA: junk(), TxB: junk()}}, priv)
}

// Sequenced is one signer's consecutive transactions: Msg(i) is the
// message of the i-th, signed with sequence Start+i.
type Sequenced struct {
	ChainID string
	Key     ed25519.PrivateKey
	Start   uint64
	Msg     func(i int) client.Msg
}

// Ordered: one signer.
func (Sequenced) Ordered() bool { return true }

// IndexOf is the index of the transaction with sequence seq.
func (s Sequenced) IndexOf(seq uint64) (int, bool) {
	if seq < s.Start || seq-s.Start > 1<<30 {
		return 0, false
	}
	return int(seq - s.Start), true
}

// Next builds transaction i.
func (s Sequenced) Next(i int) ([]byte, error) {
	if s.Msg == nil {
		return nil, errors.New("loadgen: no message builder")
	}
	return client.BuildTx(s.ChainID, s.Start+uint64(i), 0, "", s.Msg(i), s.Key)
}
