package client_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phalanx-bft/phalanx/client"
)

// TestTrustRecoversFromFullDisk: a light client store that failed to save
// a header on a full disk works again once there is space. goleveldb keeps
// a journal write error for good, so without reopening the store every
// later header was refused (found by the nemesis's disk-full fault: an
// agent verified nothing after its disk was freed). The store is put on a
// small tmpfs; the test skips where mounting one is not allowed.
func TestTrustRecoversFromFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("no tmpfs for the store (mount -t tmpfs needs root): %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })

	rpc := startNode(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr, err := client.NewTrust(ctx, client.TrustOptions{Genesis: genesisFile(), Primary: rpc, Dir: filepath.Join(dir, "light")})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	h := waitNodeHeight(t, rpc, 3)
	if _, err := tr.Header(ctx, h); err != nil {
		t.Fatalf("Header(%d): %v", h, err)
	}

	// Fill the disk: the next header cannot be saved.
	fill := filepath.Join(dir, "fill")
	f, err := os.Create(fill)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{64 << 10, 4 << 10, 1} { // to the last byte
		chunk := make([]byte, size)
		for {
			if _, err := f.Write(chunk); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill: %v; want ENOSPC", err)
				}
				break
			}
		}
	}
	_ = f.Close()
	// A save may still fit in the journal's last page: verify new heights
	// until one fails.
	full := h
	for {
		full = waitNodeHeight(t, rpc, full+1)
		if _, err = tr.Header(ctx, full); err != nil {
			break
		}
		if full > h+40 {
			t.Fatalf("40 headers verified and saved on a full disk; the test needs a failed save")
		}
	}
	t.Logf("on a full disk: Header(%d): %v", full, err)

	// Space again: the next header verifies and is saved.
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	after := waitNodeHeight(t, rpc, full+1)
	sh, err := tr.Header(ctx, after)
	if err != nil {
		t.Fatalf("Header(%d) after the disk was freed: %v", after, err)
	}
	if sh.Height != after {
		t.Fatalf("Header(%d) = height %d", after, sh.Height)
	}
}
