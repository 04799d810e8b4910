package crypto_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/phalanx-bft/phalanx/crypto"
)

// speccheck holds the 12 cases of "Taming the many EdDSAs" (Chalkias,
// Garillot, Nikolaenko, 2020; github.com/novifinancial/ed25519-speccheck,
// scripts/cases.json at 336651ba, as vendored by curve25519-voi): the
// edge cases on which ed25519 verifiers disagree. phalanx is what Phalanx
// accepts (ZIP-215, ADR 0017); stdlib is what crypto/ed25519, Phalanx's
// verifier before app version 2, accepts.
var speccheck = []struct {
	what            string
	msg, pub, sig   string
	phalanx, stdlib bool
}{
	{"0: small order A, small order R",
		"8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000",
		true, true},
	{"1: small order A, mixed order R",
		"9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
		"f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
		true, true},
	{"2: mixed order A, small order R",
		"aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab",
		"f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e",
		true, true},
	{"3: mixed order A, mixed order R",
		"9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
		"cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
		"9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009",
		true, true},
	{"4: only the cofactored equation holds",
		"e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
		"cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
		"160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
		true, false},
	{"5: cofactored, 8(hA) rather than (8h mod L)A",
		"e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
		"cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
		"21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405",
		true, false},
	{"6: non-canonical S (S > L)",
		"85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
		"442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
		"e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514",
		false, false},
	{"7: non-canonical S (S >> L)",
		"85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
		"442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
		"8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa19427e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22",
		false, false},
	{"8: non-canonical small order R, hashed reduced",
		"9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
		"f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f",
		false, false},
	{"9: non-canonical small order R, hashed as given",
		"9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
		"f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908",
		true, false},
	{"10: non-canonical small order A, hashed reduced",
		"e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
		true, false},
	{"11: non-canonical small order A, hashed as given",
		"39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
		true, true},
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAcceptanceRule pins the acceptance rule of app version 2 (ADR 0017):
// which edge cases Phalanx accepts, alone and in a batch, and that they
// are exactly what ZIP-215 says. A change here is a change of which
// transactions are valid: a new abci.AppVersion, never a silent update.
// The stdlib column checks the vectors themselves (and records where the
// rules of app versions 1 and 2 part).
func TestAcceptanceRule(t *testing.T) {
	var pubs, msgs, sigs [][]byte
	for _, c := range speccheck {
		msg, pub, sig := unhex(t, c.msg), unhex(t, c.pub), unhex(t, c.sig)
		if got := crypto.VerifyMessage(pub, msg, sig); got != c.phalanx {
			t.Errorf("case %s: Phalanx accepts = %v, want %v", c.what, got, c.phalanx)
		}
		if got := ed25519.Verify(pub, msg, sig); got != c.stdlib {
			t.Errorf("case %s: crypto/ed25519 accepts = %v, want %v (the vector is not what it claims)", c.what, got, c.stdlib)
		}
		if c.stdlib && !c.phalanx {
			t.Errorf("case %s: app version 1 accepted it and 2 does not: old blocks would not replay", c.what)
		}
		pubs, msgs, sigs = append(pubs, pub), append(msgs, msg), append(sigs, sig)
	}
	// In one batch (which fails, and falls back to each alone), and in
	// batches of one valid signature repeated, as voi's own tests do.
	got := crypto.VerifyMessages(pubs, msgs, sigs)
	for i, c := range speccheck {
		if got[i] != c.phalanx {
			t.Errorf("case %s in a mixed batch: accepted = %v, want %v", c.what, got[i], c.phalanx)
		}
		const n = 8
		bp, bm, bs := make([][]byte, n), make([][]byte, n), make([][]byte, n)
		for j := range n {
			bp[j], bm[j], bs[j] = pubs[i], msgs[i], sigs[i]
		}
		for j, ok := range crypto.VerifyMessages(bp, bm, bs) {
			if ok != c.phalanx {
				t.Errorf("case %s, copy %d of %d in a batch: accepted = %v, want %v", c.what, j, n, ok, c.phalanx)
			}
		}
	}
}

// TestVerifyBatch checks that VerifyBatch answers what Verify answers for
// each entry: all valid, one bad signature among many, bad lengths, a
// signature by another key, repeated keys.
func TestVerifyBatch(t *testing.T) {
	r := seededReader(t, 12)
	const n = 64
	pubs, bodies, sigs := make([][]byte, n), make([][]byte, n), make([][]byte, n)
	keys := make([]ed25519.PrivateKey, 5)
	for i := range keys {
		_, priv, err := crypto.GenerateKey(r)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = priv
	}
	for i := range n {
		k := keys[r.Intn(len(keys))]
		pubs[i] = k.Public().(ed25519.PublicKey)
		bodies[i] = fmt.Appendf(nil, "body %d", i)
		sigs[i] = crypto.Sign(k, bodies[i])
	}
	check := func(name string, want []bool) {
		t.Helper()
		got := crypto.VerifyBatch(pubs, bodies, sigs)
		if len(got) != len(want) {
			t.Fatalf("%s: %d answers for %d entries", name, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] || got[i] != crypto.Verify(pubs[i], bodies[i], sigs[i]) {
				t.Errorf("%s: entry %d: batch says %v, want %v (Verify says %v)", name, i, got[i], want[i], crypto.Verify(pubs[i], bodies[i], sigs[i]))
			}
		}
	}
	want := make([]bool, n)
	for i := range want {
		want[i] = true
	}
	check("all valid", want)

	sigs[7] = bytes.Clone(sigs[7])
	sigs[7][3] ^= 1
	want[7] = false
	check("one tampered signature", want)

	bodies[20] = []byte("not what was signed")
	want[20] = false
	pubs[31] = pubs[31][:31]
	want[31] = false
	sigs[40] = append(bytes.Clone(sigs[40]), 0)
	want[40] = false
	pubs[50] = make([]byte, crypto.PubKeyLen) // the identity's encoding is not a key that signed it
	want[50] = false
	check("several invalid", want)

	if got := crypto.VerifyBatch(nil, nil, nil); len(got) != 0 {
		t.Errorf("empty batch: %v", got)
	}
	if got := crypto.VerifyBatch(pubs[:1], bodies[:1], sigs[:1]); !got[0] {
		t.Error("batch of one valid signature rejected")
	}
	defer func() {
		if recover() == nil {
			t.Error("VerifyBatch with slices of different lengths did not panic")
		}
	}()
	crypto.VerifyBatch(pubs, bodies[:1], sigs)
}
