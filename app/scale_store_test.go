package app_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/abci"
	"github.com/phalanx-bft/phalanx/app"
)

// TestScaleStore measures what BenchmarkScale leaves to abci/: the IAVL
// store (goleveldb, synced commit, as a validator runs it) holding each
// BenchmarkScale cluster. For each size it commits every record (a chain
// that reached that size), then applies and commits scaleStoreBlocks
// blocks of each mode in turn (attested-idle, attested-churn,
// heartbeats, continuing one chain) and reports the mean and the largest
// Apply (IAVL update and app hash) + Commit per block, with the records a
// block changes. It runs only when PHALANX_SCALE_STORE is set (minutes,
// gigabytes of disk and memory at the largest size); set to a number of
// nodes, it measures that size only:
//
//	PHALANX_SCALE_STORE=1 go test ./app -run TestScaleStore -v -timeout 60m
//	PHALANX_SCALE_STORE=100000 go test ./app -run TestScaleStore -v -timeout 60m
func TestScaleStore(t *testing.T) {
	only := os.Getenv("PHALANX_SCALE_STORE")
	if only == "" {
		t.Skip("set PHALANX_SCALE_STORE=1 to measure the store under BenchmarkScale's clusters")
	}
	const scaleStoreBlocks = 20
	for i := 0; i < app.ScaleSizes(); i++ {
		if only != "1" && only != strconv.Itoa(app.ScaleSizeNodes(i)) {
			continue
		}
		chain, records := app.NewScaleChain(t, i)
		store, err := abci.OpenStore(t.TempDir(), 0)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := store.Apply(records); err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.Commit(); err != nil {
			t.Fatal(err)
		}
		t.Logf("scale-store: %s: initial commit of %d records: %s", chain, len(records), time.Since(start).Round(time.Millisecond))
		for _, mode := range []string{"attested-idle", "attested-churn", "heartbeats"} {
			var total, largest time.Duration
			changed := 0
			for n := 0; n < scaleStoreBlocks; n++ {
				changes := chain.Block(t, mode)
				changed += len(changes)
				start := time.Now()
				if _, err := store.Apply(changes); err != nil {
					t.Fatal(err)
				}
				if _, _, err := store.Commit(); err != nil {
					t.Fatal(err)
				}
				d := time.Since(start)
				total += d
				largest = max(largest, d)
			}
			t.Logf("scale-store: %s: %s: %d records changed per block; Apply + Commit mean %s, largest %s", chain, mode,
				changed/scaleStoreBlocks, (total / scaleStoreBlocks).Round(time.Microsecond), largest.Round(time.Microsecond))
		}
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
