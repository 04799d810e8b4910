package crypto_test

import (
	"crypto/ed25519"
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/crypto"
)

// benchSigs returns n signatures by n distinct keys over 120-byte bodies
// (a heartbeat's size), from a fixed seed.
func benchSigs(b *testing.B, n int) (pubs, bodies, sigs [][]byte) {
	r := rand.New(rand.NewSource(17))
	pubs, bodies, sigs = make([][]byte, n), make([][]byte, n), make([][]byte, n)
	for i := range n {
		pub, priv, err := crypto.GenerateKey(r)
		if err != nil {
			b.Fatal(err)
		}
		body := make([]byte, 120)
		r.Read(body)
		pubs[i], bodies[i], sigs[i] = pub, body, crypto.Sign(priv, body)
		if !crypto.Verify(pub, body, sigs[i]) { // and its expanded key is cached
			b.Fatal("invalid")
		}
	}
	b.ResetTimer()
	return pubs, bodies, sigs
}

// BenchmarkVerify compares, per signature, the verifiers ADR 0017 weighs:
// crypto/ed25519 (app version 1), curve25519-voi alone with the expanded
// key cached (crypto.Verify of a known signer), and voi's batch of n
// (crypto.VerifyBatch, keys cached) on one core.
func BenchmarkVerify(b *testing.B) {
	pubs, bodies, sigs := benchSigs(b, 1024)
	b.Run("stdlib", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			j := i % len(pubs)
			if !ed25519.Verify(pubs[j], crypto.SignBytes(bodies[j]), sigs[j]) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("voi", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			j := i % len(pubs)
			if !crypto.Verify(pubs[j], bodies[j], sigs[j]) {
				b.Fatal("invalid")
			}
		}
	})
	for _, n := range []int{16, 64, 256, 1024} {
		b.Run(fmt.Sprintf("voi-batch=%d", n), func(b *testing.B) {
			ops := 0
			for ops < b.N {
				for _, ok := range crypto.VerifyBatch(pubs[:n], bodies[:n], sigs[:n]) {
					if !ok {
						b.Fatal("invalid")
					}
				}
				ops += n
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(ops), "ns/sig")
		})
	}
}

// BenchmarkVerifyInterleaved is BenchmarkVerify made to stand a loaded
// machine: one op is a round of 256 signatures (distinct keys, cached)
// verified by each verifier back to back, so the three see the same load;
// it reports each one's median and fastest round per signature.
func BenchmarkVerifyInterleaved(b *testing.B) {
	const n = 256
	pubs, bodies, sigs := benchSigs(b, n)
	var std, single, batch []time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		for j := range n {
			if !ed25519.Verify(pubs[j], crypto.SignBytes(bodies[j]), sigs[j]) {
				b.Fatal("invalid")
			}
		}
		t1 := time.Now()
		for j := range n {
			if !crypto.Verify(pubs[j], bodies[j], sigs[j]) {
				b.Fatal("invalid")
			}
		}
		t2 := time.Now()
		for _, ok := range crypto.VerifyBatch(pubs, bodies, sigs) {
			if !ok {
				b.Fatal("invalid")
			}
		}
		t3 := time.Now()
		std, single, batch = append(std, t1.Sub(t0)), append(single, t2.Sub(t1)), append(batch, t3.Sub(t2))
	}
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"stdlib", std}, {"voi", single}, {"voi-batch256", batch}} {
		slices.Sort(m.d)
		b.ReportMetric(float64(m.d[len(m.d)/2].Nanoseconds())/n, m.name+"-median-ns/sig")
		b.ReportMetric(float64(m.d[0].Nanoseconds())/n, m.name+"-min-ns/sig")
	}
}
