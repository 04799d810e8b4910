package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/phalanx-bft/phalanx/networks"
)

// Fork fixtures for the light-client tests of issue 11: networks that a
// client checking answers against a trust anchor must tell apart from the
// real one.
//
//   - startTwinNetwork: the same chain id, genesis and validator keys as a
//     running network, but its own blocks. Every twin header is validly
//     signed by the real validator set: a real equivocation (light-client
//     attack) fork.
//   - startImpostorNetwork: the same chain id, other validator keys.

// startTwinNetwork starts, on new loopback ports, a twin of the running
// loopback network m: as many validators, each with the same
// config/priv_validator_key.json as its namesake in m, the byte-identical
// genesis.json (so the same chain id, genesis time, validator set and app
// state), the same keyring (admin and observer keys, so that CLI commands
// with --home on the twin's directory sign as the genesis accounts), and
// fresh data directories, node keys and ports. The twin's validators peer
// only with each other (persistent_peers name the twin's node ids and
// ports; nothing points at m). The validators of both networks sign
// different blocks at the same heights: from height 2 on (whose header
// carries the time and last commit of height 1) the headers differ while
// their validators hashes match.
//
// It starts the twin's validators as processes (`testnet start --detach`,
// which returns once each is at height 2) and stops them when the test
// ends. The returned manifest is the twin's (its Dir, RPC addresses, node
// ids are its own; Address, AdminAddress and ObserverAddress are m's,
// which are the twin's too). m must have no agents' processes needed on
// the twin: the twin has no agents and no observers.
func startTwinNetwork(t *testing.T, m *networks.Manifest) *networks.Manifest {
	t.Helper()
	n := len(m.Validators)
	base, err := networks.FindFreeBasePort(n, 0)
	if err != nil {
		t.Fatal(err)
	}
	blockTime := m.BlockTime
	if blockTime == "" {
		blockTime = "200ms"
	}
	dir := filepath.Join(t.TempDir(), "twin")
	mustRun(t, "testnet", "init", "--validators", fmt.Sprint(n), "--output", dir, "--chain-id", m.ChainID,
		"--base-port", fmt.Sprint(base), "--block-time", blockTime, "--no-metrics")
	tm, err := networks.LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range m.Validators {
		tv := &tm.Validators[i]
		for _, f := range []string{"priv_validator_key.json", "genesis.json"} {
			copyFile(t, filepath.Join(v.Home, "config", f), filepath.Join(tv.Home, "config", f))
		}
		tv.Address = v.Address
		tv.Observer, tv.ObserverAddress = v.Observer, v.ObserverAddress
	}
	// The genesis accounts' keys: replace the twin's keyring with m's.
	if m.KeyringDir != "" && tm.KeyringDir != "" {
		if err := os.RemoveAll(tm.KeyringDir); err != nil {
			t.Fatal(err)
		}
		copyDir(t, m.KeyringDir, tm.KeyringDir)
	}
	tm.AdminKey, tm.AdminAddress = m.AdminKey, m.AdminAddress
	if err := tm.Save(); err != nil {
		t.Fatal(err)
	}
	// No way back to m: the twin's peers are the twin's.
	for _, tv := range tm.Validators {
		cfg, err := os.ReadFile(filepath.Join(tv.Home, "config", "config.toml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range m.Validators {
			if bytes.Contains(cfg, []byte(v.NodeID)) || bytes.Contains(cfg, []byte(strings.TrimPrefix(v.RPC, "tcp://"))) {
				t.Fatalf("twin %s's config.toml names %s of the original network (%s)", tv.Name, v.Name, v.P2P)
			}
		}
	}
	startNetwork(t, tm)
	return tm
}

// startImpostorNetwork starts a one-validator loopback network whose
// chain id is chainID but whose validator key, genesis and everything
// else are its own (a plain `testnet init --chain-id chainID`): its
// headers carry the right chain id and are signed, by the wrong
// validator set. It returns once the validator is at height 2 and stops
// it when the test ends.
func startImpostorNetwork(t *testing.T, chainID string) *networks.Manifest {
	t.Helper()
	base, err := networks.FindFreeBasePort(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "impostor")
	mustRun(t, "testnet", "init", "--validators", "1", "--output", dir, "--chain-id", chainID,
		"--base-port", fmt.Sprint(base), "--block-time", "200ms", "--no-metrics")
	m, err := networks.LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	startNetwork(t, m)
	return m
}

// startNetwork starts every process of the loopback network m and stops
// them at the end of the test.
func startNetwork(t *testing.T, m *networks.Manifest) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, m)
		}
		if out, err := run(t, "testnet", "stop", m.Dir); err != nil {
			t.Errorf("testnet stop %s: %v\n%s", m.Dir, err, out)
		}
	})
	mustRun(t, "testnet", "start", m.Dir, "--detach")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
	// WriteFile keeps an existing file's mode.
	if err := os.Chmod(to, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			return os.MkdirAll(dst, fi.Mode().Perm())
		}
		copyFile(t, path, dst)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// signedHeaderAt is the commit (signed header) of height h at addr.
func signedHeaderAt(t *testing.T, addr string, h int64) *cmttypes.SignedHeader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := rpcClient(t, addr).Commit(ctx, &h)
	if err != nil {
		t.Fatalf("commit %d at %s: %v", h, addr, err)
	}
	return &c.SignedHeader
}

// TestForkFixtures: a network, its twin and an impostor are what they
// claim to be. The twin: same genesis file byte for byte, same validator
// keys, same validators hash, different blocks from height 2, each block
// validly committed by the shared validator set. The impostor: same chain
// id, another validator set.
func TestForkFixtures(t *testing.T) {
	needE2E(t)
	started := time.Now()
	n := startTestnet(t, "fork-fixtures", 200*time.Millisecond)
	m := n.m
	tm := startTwinNetwork(t, m)
	im := startImpostorNetwork(t, m.ChainID)
	t.Logf("three networks up after %s", time.Since(started).Round(10*time.Millisecond))

	for i, v := range m.Validators {
		tv := tm.Validators[i]
		for _, f := range []string{"genesis.json", "priv_validator_key.json"} {
			a, errA := os.ReadFile(filepath.Join(v.Home, "config", f))
			b, errB := os.ReadFile(filepath.Join(tv.Home, "config", f))
			if errA != nil || errB != nil || !bytes.Equal(a, b) {
				t.Errorf("%s: %s differs between the network and its twin (%v, %v)", v.Name, f, errA, errB)
			}
		}
		if tv.NodeID == v.NodeID || tv.RPC == v.RPC || tv.P2P == v.P2P {
			t.Errorf("twin %s shares node id or ports with %s: %s %s / %s %s", tv.Name, v.Name, tv.NodeID, tv.RPC, v.NodeID, v.RPC)
		}
	}
	// The twin's keyring holds the genesis admin of the network.
	if out := mustRun(t, "keys", "show", m.AdminKey, "--home", tm.Dir, "--keyring-backend", "test"); !strings.Contains(out, m.AdminAddress) {
		t.Errorf("twin keyring: keys show %s gives %q; want the network's admin %s", m.AdminKey, out, m.AdminAddress)
	}
	// The twin's validators peer with each other only.
	twinIDs := map[string]bool{}
	for _, tv := range tm.Validators {
		twinIDs[tv.NodeID] = true
	}
	ni, err := rpcClient(t, tm.Validators[0].RPC).NetInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ni.Peers {
		if !twinIDs[string(p.NodeInfo.ID())] {
			t.Errorf("twin val0 has peer %s (%s), not a twin validator", p.NodeInfo.ID(), p.RemoteIP)
		}
	}

	const h = 2
	waitHeight(t, m.Validators[0].RPC, h+1, 20*time.Second)
	waitHeight(t, tm.Validators[0].RPC, h+1, 20*time.Second)
	waitHeight(t, im.Validators[0].RPC, h+1, 20*time.Second)
	orig := signedHeaderAt(t, m.Validators[0].RPC, h)
	twin := signedHeaderAt(t, tm.Validators[0].RPC, h)
	imp := signedHeaderAt(t, im.Validators[0].RPC, h)
	t.Logf("height %d: network %X (time %s), twin %X (time %s), impostor %X", h,
		orig.Hash(), orig.Time.Format(time.RFC3339Nano), twin.Hash(), twin.Time.Format(time.RFC3339Nano), imp.Hash())
	if bytes.Equal(orig.Hash(), twin.Hash()) {
		t.Errorf("network and twin agree on header %d (%X): no fork", h, orig.Hash())
	}
	if !bytes.Equal(orig.ValidatorsHash, twin.ValidatorsHash) || !bytes.Equal(orig.NextValidatorsHash, twin.NextValidatorsHash) {
		t.Errorf("validators hash at %d: network %X, twin %X; want equal", h, orig.ValidatorsHash, twin.ValidatorsHash)
	}
	if orig.ChainID != m.ChainID || twin.ChainID != m.ChainID || imp.ChainID != m.ChainID {
		t.Errorf("chain ids at %d: %q, %q, %q; want %q", h, orig.ChainID, twin.ChainID, imp.ChainID, m.ChainID)
	}
	if bytes.Equal(orig.ValidatorsHash, imp.ValidatorsHash) {
		t.Errorf("impostor has the network's validators hash %X", imp.ValidatorsHash)
	}
	if h1o, h1t := signedHeaderAt(t, m.Validators[0].RPC, 1), signedHeaderAt(t, tm.Validators[0].RPC, 1); bytes.Equal(h1o.Hash(), h1t.Hash()) {
		t.Logf("height 1 headers are identical (%X): same genesis, no previous commit; the fork starts at 2", h1o.Hash())
	}

	// Both headers are validly committed by the same validator set: a light
	// client trusting that set accepts either, which is the attack.
	ctx := context.Background()
	vals, err := rpcClient(t, m.Validators[0].RPC).Validators(ctx, ptr(int64(h)), nil, ptr(100))
	if err != nil {
		t.Fatal(err)
	}
	vset, err := cmttypes.ValidatorSetFromExistingValidators(vals.Validators)
	if err != nil {
		t.Fatal(err)
	}
	for name, sh := range map[string]*cmttypes.SignedHeader{"network": orig, "twin": twin} {
		if err := sh.ValidateBasic(m.ChainID); err != nil {
			t.Errorf("%s header %d: %v", name, h, err)
		}
		if err := vset.VerifyCommitLight(m.ChainID, sh.Commit.BlockID, h, sh.Commit); err != nil {
			t.Errorf("%s commit %d not signed by the network's validators: %v", name, h, err)
		}
	}
	if err := vset.VerifyCommitLight(m.ChainID, imp.Commit.BlockID, h, imp.Commit); err == nil {
		t.Error("the impostor's commit verifies against the network's validators")
	}
	t.Logf("TestForkFixtures took %s", time.Since(started).Round(10*time.Millisecond))
}

func ptr[T any](v T) *T { return &v }
