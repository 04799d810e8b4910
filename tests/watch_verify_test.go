package tests

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	ctypes "github.com/cometbft/cometbft/rpc/core/types"

	"github.com/phalanx-bft/phalanx/internal/rpcforge"
)

// TestWatchVerifyCatchesForgedEvents runs `phalanxd watch --verify`
// against a real validator, through a proxy that forges the events of one
// block's results: the honest blocks print verified events, the forged
// one stops watch with a non-zero exit naming the mismatch. Forged
// end-of-block events (the block info digest) and forged transaction
// events (the result's data digest) are both caught.
func TestWatchVerifyCatchesForgedEvents(t *testing.T) {
	needE2E(t)
	v := initValidator(t, "watch-verify", 200*time.Millisecond)
	v.start()
	waitHeight(t, v.rpcAddr, 2, 90*time.Second)
	net := []string{"--home", v.home, "--keyring-backend", "test", "--node", v.rpcAddr, "--yes"}
	// A registration gives a block with a transaction event.
	mustRun(t, "keys", "add", "n1", "--home", v.home, "--keyring-backend", "test")
	out := mustRun(t, append([]string{"tx", "node", "register", "n1", "--cpu", "1000", "--memory", "1000", "--zone", "z", "--node-key", "n1", "--from", "admin"}, net...)...)
	regHeight := txHeight(t, out)

	p, err := rpcforge.New(v.rpcAddr, rpcforge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })

	watch := func(from int64) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, "watch", "--verify", "--home", v.home, "--node", p.URL(),
			"--from-height", strconv.FormatInt(from, 10), "--output", "json")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		// An honest watch runs until killed: stop it once it printed the
		// registration block.
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		deadline := time.After(15 * time.Second)
		for {
			select {
			case err := <-done:
				return stdout.String() + stderr.String(), err
			case <-deadline:
				_ = cmd.Process.Kill()
				<-done
				return stdout.String() + stderr.String(), nil
			case <-time.After(100 * time.Millisecond):
				if strings.Contains(stdout.String(), `"node_status"`) {
					_ = cmd.Process.Kill()
					<-done
					return stdout.String() + stderr.String(), nil
				}
			}
		}
	}

	// Honest: the registration's event, verified.
	got, err := watch(regHeight)
	if err != nil || !strings.Contains(got, `"node_status"`) || !strings.Contains(got, `"verified":true`) {
		t.Fatalf("honest watch --verify: err %v; want the registration's node_status event, verified:\n%s", err, got)
	}

	// Forged transaction event: the attribute changes, the digest in the
	// result's data does not.
	rpcforge.Forge(p, "block_results", func(_ rpcforge.Call, r *ctypes.ResultBlockResults) {
		if r.Height != regHeight {
			return
		}
		for _, tx := range r.TxResults {
			for i := range tx.Events {
				for j := range tx.Events[i].Attributes {
					if tx.Events[i].Attributes[j].Key == "node" {
						tx.Events[i].Attributes[j].Value = "forged"
					}
				}
			}
		}
	})
	got, err = watch(regHeight)
	if err == nil || !strings.Contains(got, "do not match the digest") || strings.Contains(got, `"forged"`) {
		t.Fatalf("watch --verify on forged transaction events: err %v; want a non-zero exit naming the digest mismatch and no forged event printed:\n%s", err, got)
	}
	t.Logf("forged tx event refused: %s", lastLine(got))

	// Forged end-of-block event: one is added to the block's begin/end
	// events; only the block info record's digest can tell.
	rpcforge.Forge(p, "block_results", func(_ rpcforge.Call, r *ctypes.ResultBlockResults) {
		if r.Height != regHeight {
			return
		}
		r.FinalizeBlockEvents = append(r.FinalizeBlockEvents, r.TxResults[0].Events...)
	})
	got, err = watch(regHeight)
	if err == nil || !strings.Contains(got, "block info record") {
		t.Fatalf("watch --verify on a forged end-of-block event: err %v; want a non-zero exit naming the block info digest:\n%s", err, got)
	}
	t.Logf("forged end-of-block event refused: %s", lastLine(got))

	// Forged code of a transaction: last_results_hash.
	rpcforge.Forge(p, "block_results", func(_ rpcforge.Call, r *ctypes.ResultBlockResults) {
		if r.Height == regHeight {
			r.TxResults[0].Code = 5
		}
	})
	got, err = watch(regHeight)
	if err == nil || !strings.Contains(got, "last_results_hash") {
		t.Fatalf("watch --verify on a forged result code: err %v; want a non-zero exit naming last_results_hash:\n%s", err, got)
	}
}

// txHeight reads the "height: N" line of a tx command's text output.
func txHeight(t *testing.T, out string) int64 {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if h, ok := strings.CutPrefix(strings.TrimSpace(l), "height: "); ok {
			n, err := strconv.ParseInt(h, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	t.Fatalf("no height line in:\n%s", out)
	return 0
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
