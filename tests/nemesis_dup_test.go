package tests

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/networks"
)

// nemesisEvidence bounds the double-sign scenario: from the clone's
// start, its validator is out of the set within this.
const nemesisEvidence = 120 * time.Second

// checkDoubleSign is the nemesis's duplicate-key fault, run once at the
// end of TestNemesis because it costs the network a validator for good
// (f = 1 of 4 leaves no room after it). A second process signs with the
// last validator's key: a node of its own (fresh node key, data and
// signing state, so no local double-sign guard stops it), peered with
// every validator. When that validator proposes, the two propose
// different blocks and prevote each their own: duplicate votes. The
// chain must commit the evidence, the application must set the
// validator's power to 0 and jail its observer, the other three must go
// on, and no height may have two blocks (the clone included).
func checkDoubleSign(t *testing.T, m *networks.Manifest) []string {
	t.Helper()
	ctx := context.Background()
	v := m.Validators[len(m.Validators)-1]
	base, err := networks.FindFreeBasePort(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "double-signer")
	blockTime := m.BlockTime
	if blockTime == "" {
		blockTime = "1s"
	}
	mustRun(t, "testnet", "init", "--validators", "1", "--output", dir, "--chain-id", m.ChainID,
		"--base-port", fmt.Sprint(base), "--block-time", blockTime, "--no-metrics")
	tm, err := networks.LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	clone := &tm.Validators[0]
	for _, f := range []string{"priv_validator_key.json", "genesis.json"} {
		copyFile(t, filepath.Join(v.Home, "config", f), filepath.Join(clone.Home, "config", f))
	}
	clone.Address = v.Address
	if err := tm.Save(); err != nil {
		t.Fatal(err)
	}
	var peers []string
	for _, o := range m.Validators {
		peers = append(peers, o.P2P)
	}
	cfgPath := filepath.Join(clone.Home, "config", "config.toml")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	b = persistentPeersRE.ReplaceAll(b, []byte(fmt.Sprintf("persistent_peers = %q", strings.Join(peers, ","))))
	b = pexRE.ReplaceAll(b, []byte("pex = false"))
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}

	rc := rpcClient(t, m.Validators[0].RPC)
	from := waitHeight(t, m.Validators[0].RPC, 0, 10*time.Second)
	start := time.Now()
	startNetwork(t, tm) // returns once the clone has caught up
	t.Logf("double sign: a second %s (key %s) runs as %s, caught up %s after its start", v.Name, v.Address, clone.RPC, time.Since(start).Round(100*time.Millisecond))

	var out []string
	inSet := func() (bool, int64, error) {
		vs, err := rc.Validators(ctx, nil, nil, nil)
		if err != nil {
			return false, 0, err
		}
		for _, x := range vs.Validators {
			if strings.EqualFold(x.Address.String(), v.Address) {
				return true, vs.BlockHeight, nil
			}
		}
		return false, vs.BlockHeight, nil
	}
	var removedAt int64
	for {
		in, h, err := inSet()
		if err == nil && !in {
			removedAt = h
			break
		}
		if time.Since(start) > nemesisEvidence {
			return append(out, fmt.Sprintf("double sign: %s still in the validator set %s after its key signed twice (last answer: height %d, %v)", v.Name, nemesisEvidence, h, err))
		}
		time.Sleep(200 * time.Millisecond) // a poll with a deadline
	}
	t.Logf("double sign: %s out of the validator set at height %d, %s after the clone started", v.Name, removedAt, time.Since(start).Round(100*time.Millisecond))

	// The evidence is in a block, and it names v. The set of height H is
	// decided by block H-2 (CometBFT applies validator updates two blocks
	// on), so the evidence is in a block below removedAt.
	var evidence []string
	for hgt := from; hgt < removedAt; hgt++ {
		blk, err := rc.Block(ctx, &hgt)
		if err != nil {
			return append(out, fmt.Sprintf("double sign: block %d: %v", hgt, err))
		}
		for _, ev := range blk.Block.Evidence.Evidence {
			if dve, ok := ev.(*cmttypes.DuplicateVoteEvidence); ok && strings.EqualFold(dve.VoteA.ValidatorAddress.String(), v.Address) {
				evidence = append(evidence, fmt.Sprintf("height %d: %s votes for %s and %s at height %d round %d",
					hgt, dve.VoteA.Type, dve.VoteA.BlockID.Hash, dve.VoteB.BlockID.Hash, dve.VoteA.Height, dve.VoteA.Round))
			}
		}
	}
	if len(evidence) == 0 {
		out = append(out, fmt.Sprintf("double sign: %s left the set by height %d with no duplicate-vote evidence of it in blocks %d..%d", v.Name, removedAt, from, removedAt))
	} else {
		t.Logf("double sign: evidence committed, %s", strings.Join(evidence, "; "))
	}

	// Its observer is jailed.
	c, err := client.New(m.Validators[0].RPC)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := hex.DecodeString(v.ObserverAddress)
	if err != nil {
		t.Fatalf("observer address %q: %v", v.ObserverAddress, err)
	}
	var acc api.AccountView
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		acc, err = c.Account(ctx, addr)
		if err == nil && acc.Jailed {
			t.Logf("double sign: %s jailed: %s", v.Observer, acc.JailReason)
			break
		}
		if time.Now().After(deadline) {
			out = append(out, fmt.Sprintf("double sign: %s's observer %s not jailed 10 s after the validator left the set (jailed %v, %v)", v.Name, v.Observer, acc.Jailed, err))
			break
		}
	}

	// The three others go on, and no height has two blocks: the clone's
	// chain is the validators' chain.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		h, err := rpcHeight(m.Validators[0].RPC)
		if err == nil && h >= removedAt+3 {
			break
		}
		if time.Now().After(deadline) {
			out = append(out, fmt.Sprintf("double sign: the three other validators did not reach height %d within 30 s of %s leaving the set (at %d, %v)", removedAt+3, v.Name, h, err))
			return out
		}
	}
	both := *m
	both.Validators = append(append([]networks.Validator(nil), m.Validators...), *clone)
	both.Validators[len(both.Validators)-1].Name = v.Name + "-clone"
	return append(out, nemChainAgreement(ctx, t, &both)...)
}
