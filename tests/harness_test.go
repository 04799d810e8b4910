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
	"github.com/phalanx-bft/phalanx/types"
)

// binary is the phalanxd built once for the package.
var binary string

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
			build := exec.Command("go", "build", "-o", binary, "../cmd/phalanxd")
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

func (v *validator) logTail() string {
	b, _ := os.ReadFile(filepath.Join(v.home, "node.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (v *validator) rpc() *rpchttp.HTTP {
	c, err := rpchttp.New(v.rpcAddr)
	if err != nil {
		v.t.Fatal(err)
	}
	return c
}

// waitHeight polls until the validator has committed height h.
func (v *validator) waitHeight(h int64, within time.Duration) int64 {
	v.t.Helper()
	deadline := time.Now().Add(within)
	c := v.rpc()
	for {
		st, err := c.Status(context.Background())
		if err == nil && st.SyncInfo.LatestBlockHeight >= h {
			return st.SyncInfo.LatestBlockHeight
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("height %d not reached within %s (last error %v)\n--- node.log tail ---\n%s", h, within, err, v.logTail())
		}
		time.Sleep(100 * time.Millisecond)
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

var _ = bytes.Equal
