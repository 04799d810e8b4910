package loadgen

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/api"
)

func TestPercentileNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := Percentile(d, c.p); got != c.want {
			t.Errorf("p%v = %s; want %s", c.p, got, c.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %s; want 0", got)
	}
}

func TestKVStoreStreamIsKVStoreFormatOfExactSize(t *testing.T) {
	s := KVStoreStream{Run: "r1", Count: 3, Size: 137}
	seen := map[string]bool{}
	for lane := range 3 {
		for k := range 5 {
			tx, err := s.Tx(lane, k)
			if err != nil {
				t.Fatal(err)
			}
			if len(tx) != 137 || bytes.Count(tx, []byte("=")) != 1 || bytes.Contains(tx, []byte(":")) || tx[len(tx)-1] == '=' {
				t.Fatalf("lane %d tx %d = %q: not a 137-byte key=value", lane, k, tx)
			}
			if seen[string(tx)] {
				t.Fatalf("lane %d tx %d repeats %q", lane, k, tx)
			}
			seen[string(tx)] = true
		}
	}
	if _, err := (KVStoreStream{Run: "r1", Count: 1, Size: 10}).Tx(0, 0); err == nil {
		t.Error("a 10-byte transaction that cannot hold its key was built")
	}
}

func TestHeartbeatStreamPreparedEqualsBuiltAndResumes(t *testing.T) {
	keys := make([]ed25519.PrivateKey, 4)
	ids := make([]string, 4)
	for i := range keys {
		keys[i] = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, ed25519.SeedSize))
		ids[i] = fmt.Sprintf("n%d", i)
	}
	prepared := &HeartbeatStream{ChainID: "c", Keys: keys, NodeIDs: ids}
	if err := prepared.Prepare([]int{0, 2, 0, 5}, 3); err != nil {
		t.Fatal(err)
	}
	fresh := &HeartbeatStream{ChainID: "c", Keys: keys, NodeIDs: ids}
	for lane, from := range []int{0, 2, 0, 5} {
		for k := from; k < from+4; k++ { // one past what was prepared
			a, err := prepared.Tx(lane, k)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := fresh.Tx(lane, k)
			if !bytes.Equal(a, b) {
				t.Fatalf("lane %d tx %d differs between prepared and built", lane, k)
			}
			tx, err := api.DecodeTx(a, "c")
			if err != nil {
				t.Fatalf("lane %d tx %d does not decode: %v", lane, k, err)
			}
			if tx.Body.Sequence != uint64(k) || tx.Body.GetHeartbeat().Seq != uint64(k)+1 || tx.Body.GetHeartbeat().NodeId != ids[lane] {
				t.Fatalf("lane %d tx %d: sequence %d, heartbeat %+v", lane, k, tx.Body.Sequence, tx.Body.GetHeartbeat())
			}
		}
	}
	if k, ok := prepared.Resume(1, "sequence 9 skips ahead for account AB; next is 7"); !ok || k != 7 {
		t.Errorf("Resume = %d, %v; want 7, true", k, ok)
	}
	if _, ok := prepared.Resume(1, "mempool is full"); ok {
		t.Error("Resume found a sequence in a log without one")
	}
}

func TestBenchConfigRefusesImpossibleSettings(t *testing.T) {
	ok := BenchConfig{Nodes: []string{"tcp://127.0.0.1:1"}, Stream: KVStoreStream{Count: 1, Size: 100},
		Rates: []int{10}, Step: time.Second, Drain: time.Second, Workers: 1}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	for name, mut := range map[string]func(*BenchConfig){
		"no nodes":      func(c *BenchConfig) { c.Nodes = nil },
		"no rates":      func(c *BenchConfig) { c.Rates = nil },
		"zero rate":     func(c *BenchConfig) { c.Rates = []int{0} },
		"rate too high": func(c *BenchConfig) { c.Rates = []int{MaxRate + 1} },
		"zero step":     func(c *BenchConfig) { c.Step = 0 },
		"no drain":      func(c *BenchConfig) { c.Drain = 0 },
		"no workers":    func(c *BenchConfig) { c.Workers = 0 },
		"many workers":  func(c *BenchConfig) { c.Workers = MaxBenchWorkers + 1 },
		"no lanes":      func(c *BenchConfig) { c.Stream = KVStoreStream{Count: 0, Size: 100} },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
