package app

import (
	"bytes"
	"flag"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	archFlag = flag.Bool("arch", false,
		"TestReplayAcrossArchitectures: run the replay on arm64 under user-mode emulation too (make nemesis; needs qemu-aarch64-static or qemu-aarch64)")
	replayOut = flag.String("replay-digests", "",
		"TestReplayDigests: write the replay's per-height digests to this file (used by TestReplayAcrossArchitectures)")
)

// replaySeed and replayHeights fix the replay both architectures run.
const (
	replaySeed    = 20261202
	replayHeights = 150
)

// TestReplayDigests runs the fixed replay (seed replaySeed, random blocks
// of valid and invalid transactions, two States compared at every height)
// and, with -replay-digests FILE, writes its per-height digests there.
func TestReplayDigests(t *testing.T) {
	d := simulate(t, rand.New(rand.NewSource(replaySeed)), replayHeights)
	if len(d) != replayHeights {
		t.Fatalf("%d digests for %d heights", len(d), replayHeights)
	}
	if *replayOut != "" {
		if err := os.WriteFile(*replayOut, []byte(strings.Join(d, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplayAcrossArchitectures (issue 13 §5, with -arch): the same
// replay compiled for arm64 (GOARCH=arm64, CGO_ENABLED=0) and run under
// qemu's user-mode emulation must give the digest this machine gives at
// every height. Skipped, saying why, without -arch or without the
// emulator (Debian: apt-get install qemu-user-static).
func TestReplayAcrossArchitectures(t *testing.T) {
	if !*archFlag {
		t.Skip("cross-architecture replay: run with -arch (make nemesis does)")
	}
	var qemu string
	for _, name := range []string{"qemu-aarch64-static", "qemu-aarch64"} {
		if p, err := exec.LookPath(name); err == nil {
			qemu = p
			break
		}
	}
	if qemu == "" {
		t.Skip("cross-architecture replay: no qemu-aarch64-static or qemu-aarch64 on PATH (Debian: apt-get install qemu-user-static)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "app.arm64.test")
	build := exec.Command("go", "test", "-c", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the arm64 test binary: %v\n%s", err, out)
	}
	native := simulate(t, rand.New(rand.NewSource(replaySeed)), replayHeights)
	out := filepath.Join(dir, "arm64.digests")
	start := time.Now()
	run := exec.Command(qemu, bin, "-test.run", "^TestReplayDigests$", "-test.count", "1", "-replay-digests", out)
	if b, err := run.CombinedOutput(); err != nil {
		t.Fatalf("the arm64 replay under %s: %v\n%s", filepath.Base(qemu), err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	arm := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(arm) != len(native) {
		t.Fatalf("arm64 gave %d digests, amd64 %d", len(arm), len(native))
	}
	for i := range native {
		if !bytes.Equal([]byte(arm[i]), []byte(native[i])) {
			t.Fatalf("first difference at height %d: this machine %q, arm64 %q", i+1, native[i], arm[i])
		}
	}
	t.Logf("arm64 under %s (%s) and this machine agree on every one of %d heights; last %s",
		filepath.Base(qemu), time.Since(start).Round(100*time.Millisecond), len(native), native[len(native)-1])
}
