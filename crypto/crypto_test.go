package crypto_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	cmtcrypto "github.com/cometbft/cometbft/crypto"

	"github.com/phalanx-bft/phalanx/crypto"
)

// seededReader returns a deterministic key source; the seed is fixed by
// the caller, so a rerun replays it. It is logged at the start and again
// if the test fails.
func seededReader(t *testing.T, seed int64) *rand.Rand {
	t.Helper()
	t.Logf("seed %d (fixed: rerun with go test ./crypto -run '^%s$')", seed, t.Name())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d (fixed in the test)", seed)
		}
	})
	return rand.New(rand.NewSource(seed))
}

func TestAddressMatchesCometBFT(t *testing.T) {
	r := seededReader(t, 20240611)
	for i := 0; i < 200; i++ {
		pub, _, err := crypto.GenerateKey(r)
		if err != nil {
			t.Fatal(err)
		}
		want := cmtcrypto.AddressHash(pub) // what cometbft's ed25519 PubKey.Address returns
		if got := crypto.Address(pub); !bytes.Equal(got, want) {
			t.Fatalf("key %d (%X): Address = %X, cometbft = %X", i, []byte(pub), got, []byte(want))
		}
		if got := crypto.AddressHex(pub); got != want.String() {
			t.Fatalf("key %d (%X): AddressHex = %s, cometbft = %s", i, []byte(pub), got, want.String())
		}
	}
}

// Vectors produced by github.com/cometbft/cometbft v1.0.1
// crypto/ed25519.PrivKey(ed25519.NewKeyFromSeed(seed)).PubKey().Address().
var cometAddressVectors = []struct{ seed, pub, addr string }{
	{"0000000000000000000000000000000000000000000000000000000000000000", "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29", "139E3940E64B5491722088D9A0D741628FC826E0"},
	{"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8", "56475AA75463474C0285DF5DBF2BCAB73DA65135"},
	{"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "76a1592044a6e4f511265bca73a604d90b0529d1df602be30a19a9257660d1f5", "AF822958F2D75AFB91F8A8F4DA253230D63BEBF8"},
}

func TestAddressCometBFTVectors(t *testing.T) {
	for _, v := range cometAddressVectors {
		seed, _ := hex.DecodeString(v.seed)
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		if got := hex.EncodeToString(pub); got != v.pub {
			t.Fatalf("seed %s: pub = %s, want %s", v.seed, got, v.pub)
		}
		if got := crypto.AddressHex(pub); got != v.addr {
			t.Errorf("seed %s: AddressHex = %s, want %s", v.seed, got, v.addr)
		}
		if got := len(crypto.Address(pub)); got != crypto.AddressLen {
			t.Errorf("len(Address) = %d, want %d", got, crypto.AddressLen)
		}
	}
}

func TestSignBytes(t *testing.T) {
	body := []byte{0x0a, 0x03, 'a', 'b', 'c'}
	got := crypto.SignBytes(body)
	want := append([]byte("phalanx/tx/v1\x00"), body...)
	if !bytes.Equal(got, want) {
		t.Fatalf("SignBytes = %q, want %q", got, want)
	}
	got[len(got)-1] = 'X'
	if body[len(body)-1] != 'c' {
		t.Fatal("SignBytes result aliases its input")
	}
	if got := crypto.SignBytes(nil); string(got) != crypto.SignDomain {
		t.Fatalf("SignBytes(nil) = %q, want the domain alone", got)
	}
}

func TestSignVerify(t *testing.T) {
	r := seededReader(t, 7)
	pub, priv, err := crypto.GenerateKey(r)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, _, err := crypto.GenerateKey(r)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("chain_id=phalanx-1 sequence=12 msg=CordonNode{node-3}")
	sig := crypto.Sign(priv, body)
	if len(sig) != crypto.SignatureLen {
		t.Fatalf("len(sig) = %d, want %d", len(sig), crypto.SignatureLen)
	}
	if !crypto.Verify(pub, body, sig) {
		t.Fatal("Verify rejected a valid signature")
	}
	// The signature is a plain ed25519 signature over SignBytes, so any
	// ed25519 implementation can check it.
	if !ed25519.Verify(pub, crypto.SignBytes(body), sig) {
		t.Fatal("signature does not cover SignBytes(body)")
	}

	tamperedBody := bytes.Clone(body)
	tamperedBody[len(tamperedBody)-2] ^= 0x01
	tamperedSig := bytes.Clone(sig)
	tamperedSig[0] ^= 0x01
	noDomainSig := ed25519.Sign(priv, body)
	otherDomainSig := ed25519.Sign(priv, append([]byte("phalanx/tx/v2\x00"), body...))
	noNulSig := ed25519.Sign(priv, append([]byte("phalanx/tx/v1"), body...))

	cases := []struct {
		name           string
		pub, body, sig []byte
	}{
		{"tampered body", pub, tamperedBody, sig},
		{"tampered signature", pub, body, tamperedSig},
		{"other key", otherPub, body, sig},
		{"signed without domain", pub, body, noDomainSig},
		{"signed with other domain", pub, body, otherDomainSig},
		{"signed without domain terminator", pub, body, noNulSig},
		{"empty body", pub, nil, sig},
		{"short pub key", pub[:31], body, sig},
		{"long pub key", append(bytes.Clone(pub), 0), body, sig},
		{"nil pub key", nil, body, sig},
		{"short signature", pub, body, sig[:63]},
		{"long signature", pub, body, append(bytes.Clone(sig), 0)},
		{"nil signature", pub, body, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if crypto.Verify(c.pub, c.body, c.sig) {
				t.Fatal("Verify accepted an invalid signature")
			}
		})
	}
}

func TestSignPanicsOnBadPrivKey(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), "want 64") {
			t.Fatalf("recover() = %v, want a panic naming the expected length", r)
		}
	}()
	crypto.Sign(make(ed25519.PrivateKey, 32), []byte("x"))
}

func TestValidatePubKey(t *testing.T) {
	if err := crypto.ValidatePubKey(make([]byte, 32)); err != nil {
		t.Fatalf("32 bytes: %v", err)
	}
	for _, n := range []int{0, 31, 33, 64} {
		err := crypto.ValidatePubKey(make([]byte, n))
		if !errors.Is(err, crypto.ErrInvalidPubKey) {
			t.Fatalf("%d bytes: err = %v, want ErrInvalidPubKey", n, err)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("got %d bytes, want 32", n)) {
			t.Fatalf("%d bytes: error %q does not say what was wrong", n, err)
		}
	}
}

func TestParseAddress(t *testing.T) {
	const upper = "56475AA75463474C0285DF5DBF2BCAB73DA65135"
	want, _ := hex.DecodeString(upper)
	cases := []struct {
		name    string
		in      string
		wantErr string // substring; empty means success
	}{
		{"upper", upper, ""},
		{"lower", strings.ToLower(upper), ""},
		{"mixed", "56475aa75463474C0285DF5DBF2BCAB73DA65135", ""},
		{"empty", "", "got 0 characters, want 40 hex characters (20 bytes)"},
		{"one short", upper[:39], "got 39 characters, want 40"},
		{"one byte short", upper[:38], "got 38 characters, want 40"},
		{"one byte long", upper + "00", "got 42 characters, want 40"},
		{"0x prefix", "0x" + upper[:38], `character 'x' at position 1 is not a hex digit`},
		{"non-hex", upper[:10] + "G" + upper[11:], `character 'G' at position 10 is not a hex digit`},
		{"space", " " + upper[1:], `character ' ' at position 0`},
		{"bech32-looking", "phalanx1" + strings.Repeat("q", 32), `character 'p' at position 0 is not a hex digit`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := crypto.ParseAddress(c.in)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseAddress(%q): %v", c.in, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("ParseAddress(%q) = %X, want %X", c.in, got, want)
				}
				return
			}
			if !errors.Is(err, crypto.ErrInvalidAddress) {
				t.Fatalf("ParseAddress(%q) err = %v, want ErrInvalidAddress", c.in, err)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("ParseAddress(%q) error %q does not contain %q", c.in, err, c.wantErr)
			}
		})
	}
}

func TestParseAddressRoundTrip(t *testing.T) {
	r := seededReader(t, 99)
	for i := 0; i < 50; i++ {
		pub, _, err := crypto.GenerateKey(r)
		if err != nil {
			t.Fatal(err)
		}
		s := crypto.AddressHex(pub)
		if s != strings.ToUpper(s) || len(s) != 40 {
			t.Fatalf("AddressHex = %q, want 40 upper-case hex characters", s)
		}
		got, err := crypto.ParseAddress(s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, crypto.Address(pub)) {
			t.Fatalf("ParseAddress(AddressHex(pub)) = %X, want %X", got, crypto.Address(pub))
		}
	}
}

func Example() {
	seed := make([]byte, ed25519.SeedSize) // use crypto.GenerateKey(nil) for real keys
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)

	body := []byte("serialized TxBody")
	sig := crypto.Sign(priv, body)

	fmt.Println(crypto.AddressHex(pub))
	fmt.Println(crypto.Verify(pub, body, sig))
	fmt.Println(crypto.Verify(pub, []byte("another body"), sig))
	// Output:
	// 139E3940E64B5491722088D9A0D741628FC826E0
	// true
	// false
}
