// Package tests holds end-to-end tests: they build phalanxd and drive real
// OS processes over real CometBFT RPC, as a user would. `go test -short`
// skips them.
package tests

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/internal/testseed"
	"github.com/phalanx-bft/phalanx/types"
)

// binary is the phalanxd built once for the package, by TestMain: a static
// (CGO_ENABLED=0) binary, so that the containerised network's scratch image
// can run the same file (see dkBuildImage).
var binary string

// seedFlag replays a randomised test: go test ./tests -run X -seed N.
var seedFlag = flag.Int64("seed", 0, "seed of the randomised end-to-end tests and benchmarks (0: one from the clock)")

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		dir, err := os.MkdirTemp("", "phalanx-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "phalanxd")
		if !testing.Short() && os.Getenv("PHALANX_E2E_SKIP") == "" {
			build := exec.Command("go", "build", "-trimpath", "-o", binary, "../cmd/phalanxd")
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "building phalanxd:", err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// testSeed is the seed of a test's randomness: -seed, or the clock. It is
// logged at the start and again if the test fails, with the command that
// replays it.
func testSeed(tb testing.TB) uint64 {
	tb.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	testseed.Log(tb, "./tests", seed)
	return uint64(seed)
}

func needE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
}

// freePort asks the kernel for an unused loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// run executes phalanxd with args and returns its combined output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "PHALANX_KEYRING_PASSPHRASE=e2e-passphrase")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("phalanxd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// validator is one phalanxd start process.
type validator struct {
	t       *testing.T
	home    string
	rpcAddr string // tcp://127.0.0.1:port
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
}

// initValidator runs `phalanxd init` and moves its ports to free ones and
// its block time to blockTime.
func initValidator(t *testing.T, chainID string, blockTime time.Duration) *validator {
	t.Helper()
	home := filepath.Join(t.TempDir(), "val")
	mustRun(t, "init", "--home", home, "--chain-id", chainID, "--moniker", "v0")
	rpcPort, p2pPort := freePort(t), freePort(t)
	rewriteConfig(t, filepath.Join(home, "config", "config.toml"), map[string]string{
		`laddr = "tcp://127.0.0.1:26657"`: fmt.Sprintf(`laddr = "tcp://127.0.0.1:%d"`, rpcPort),
		`laddr = "tcp://0.0.0.0:26656"`:   fmt.Sprintf(`laddr = "tcp://127.0.0.1:%d"`, p2pPort),
		`timeout_commit = "1s"`:           fmt.Sprintf(`timeout_commit = "%s"`, blockTime),
	})
	// Registered before any start's kill, so it runs after it.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s/node.log (tail) ---\n%s", home, tailFile(filepath.Join(home, "node.log"), 4000))
		}
	})
	return &validator{t: t, home: home, rpcAddr: fmt.Sprintf("tcp://127.0.0.1:%d", rpcPort)}
}

func rewriteConfig(t *testing.T, path string, repl map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for old, new := range repl {
		if !strings.Contains(s, old) {
			t.Fatalf("%s: expected line %q not found", path, old)
		}
		s = strings.Replace(s, old, new, 1)
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start launches `phalanxd start` with its log in home/node.log.
func (v *validator) start() {
	v.t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	logf, err := os.OpenFile(filepath.Join(v.home, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		v.t.Fatal(err)
	}
	cmd := exec.Command(binary, "start", "--home", v.home)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		v.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	v.cmd, v.exited = cmd, exited
	v.t.Cleanup(func() { v.kill() })
}

// kill sends SIGKILL and waits for the process to be gone.
func (v *validator) kill() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cmd == nil {
		return
	}
	_ = v.cmd.Process.Kill()
	<-v.exited
	v.cmd = nil
}

// stop sends SIGTERM and waits for a clean exit.
func (v *validator) stop() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cmd == nil {
		return nil
	}
	_ = v.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-v.exited:
	case <-time.After(30 * time.Second):
		_ = v.cmd.Process.Kill()
		<-v.exited
		return fmt.Errorf("validator did not stop within 30s of SIGTERM")
	}
	state := v.cmd.ProcessState
	v.cmd = nil
	if state != nil && !state.Success() {
		return fmt.Errorf("validator exited with %v", state)
	}
	return nil
}

func (v *validator) rpc() *rpchttp.HTTP { return rpcClient(v.t, v.rpcAddr) }

// tailFile is the last n bytes of a file ("" if it cannot be read).
func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func rpcClient(tb testing.TB, addr string) *rpchttp.HTTP {
	tb.Helper()
	c, err := rpchttp.New(addr)
	if err != nil {
		tb.Fatalf("rpc client for %s: %v", addr, err)
	}
	return c
}

// rpcHeight asks the validator at addr (tcp://host:port) for its latest
// committed height, the call bounded by 2s.
func rpcHeight(addr string) (int64, error) {
	c, err := rpchttp.New(addr)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return 0, err
	}
	return st.SyncInfo.LatestBlockHeight, nil
}

// waitHeight polls the validator at addr until it has committed height h
// and returns the height it reported; it fails tb, with the last height
// or RPC error seen, if that does not happen within the deadline. With
// h = 0 it reads the current height: an RPC error is retried until the
// deadline, never read as height 0.
func waitHeight(tb testing.TB, addr string, h int64, within time.Duration) int64 {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := rpcHeight(addr)
		if err == nil && got >= h {
			return got
		}
		if time.Now().After(deadline) {
			if err != nil {
				tb.Fatalf("%s: height >= %d not read within %s: the last /status failed: %v", addr, h, within, err)
			}
			tb.Fatalf("%s: height >= %d not reached within %s (last seen: height %d)", addr, h, within, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// heightNow is the current height of the validator at addr (retried for
// up to 5s; an RPC error fails tb).
func heightNow(tb testing.TB, addr string) int64 {
	tb.Helper()
	return waitHeight(tb, addr, 0, 5*time.Second)
}

// checkAgreement compares the block hash and app hash of every height in
// [from, to] across the validators at addrs (addrs[i] is val i): no height
// has two blocks.
func checkAgreement(tb testing.TB, addrs []string, from, to int64) {
	tb.Helper()
	if from > to {
		tb.Fatalf("checkAgreement: empty range [%d, %d]", from, to)
	}
	for h := from; h <= to; h++ {
		var blockHash, appHash []byte
		for i, addr := range addrs {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			hh := h
			b, err := rpcClient(tb, addr).Block(ctx, &hh)
			cancel()
			if err != nil {
				tb.Fatalf("val%d (%s) block %d: %v", i, addr, h, err)
			}
			if i == 0 {
				blockHash, appHash = b.BlockID.Hash, b.Block.AppHash
				continue
			}
			if !bytes.Equal(blockHash, b.BlockID.Hash) || !bytes.Equal(appHash, b.Block.AppHash) {
				tb.Fatalf("height %d: val%d has block %X app hash %X; val0 has %X %X",
					h, i, b.BlockID.Hash, b.Block.AppHash, blockHash, appHash)
			}
		}
	}
}

// waitUntil polls cond every 50ms until it holds, and fails tb if it does
// not within the deadline, saying what was awaited and the last state cond
// described.
func waitUntil(tb testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s; last seen: %s", what, within, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// adminKey reads the home's test-keyring admin key.
func (v *validator) adminKey() ed25519.PrivateKey {
	v.t.Helper()
	kr, err := keyring.New(v.home, keyring.BackendTest, nil)
	if err != nil {
		v.t.Fatal(err)
	}
	k, err := kr.Signer("admin")
	if err != nil {
		v.t.Fatal(err)
	}
	return k
}

func signedTx(t testing.TB, k ed25519.PrivateKey, body *types.TxBody) []byte {
	t.Helper()
	bz, err := body.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := (&types.Tx{BodyBytes: bz, PubKey: k.Public().(ed25519.PublicKey), Signature: crypto.Sign(k, bz)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

var hexRe = regexp.MustCompile(`^[0-9A-F]+$`)

func isUpperHex(s string) bool { return hexRe.MatchString(s) }
