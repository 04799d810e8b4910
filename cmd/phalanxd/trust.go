package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/spf13/cobra"

	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/config"
	"github.com/phalanx-bft/phalanx/networks"
)

// trustFlags are the flags that give a command its root of trust
// (docs/adr/0016-trust.md): the genesis validator set from the home, or a
// header named by --trust-height and --trust-hash, and the witnesses the
// light client cross-checks headers with.
type trustFlags struct {
	home        *string // the command's --home
	genesis     string
	trustHeight int64
	trustHash   string
	period      time.Duration
	witnesses   []string
	storeName   string // directory under HOME/light (per kind of process)
}

const trustHelp = `Answers checked with --prove (and the reads of read-modify-write commands)
are verified against a header that CometBFT's light client verified from a
root of trust: the genesis validator set of --genesis (default
HOME/config/genesis.json, or the genesis of the network in HOME/testnet.json),
or the header given by --trust-height and --trust-hash. Headers are
cross-checked with each --witness (default: the other validators of
HOME/testnet.json); verified headers are kept in HOME/light.`

// register adds the flags; home is the command's --home, or nil to add one.
func (f *trustFlags) register(cmd *cobra.Command, home *string, storeName string) {
	fl := cmd.Flags()
	if home == nil {
		home = new(string)
		fl.StringVar(home, "home", config.DefaultHome(), "home directory holding the genesis file and the light client's verified headers (HOME/light)")
	}
	f.home = home
	f.storeName = storeName
	fl.StringVar(&f.genesis, "genesis", "", "genesis file whose validator set is the root of trust (default HOME/config/genesis.json, or the testnet's)")
	fl.Int64Var(&f.trustHeight, "trust-height", 0, "height of a header trusted by other means, the root of trust instead of the genesis (with --trust-hash)")
	fl.StringVar(&f.trustHash, "trust-hash", "", "hash (hex) of the header at --trust-height")
	fl.DurationVar(&f.period, "trusting-period", client.DefaultTrustingPeriod, "how long a verified header stays a root of trust")
	fl.StringArrayVar(&f.witnesses, "witness", nil, "RPC address of another node that headers are cross-checked with (repeatable; default: the testnet's other validators)")
}

// manifest is the testnet manifest in the home, or nil.
func (f *trustFlags) manifest() *networks.Manifest {
	if _, err := os.Stat(networks.Path(*f.home)); err != nil {
		return nil
	}
	m, err := networks.LoadManifest(*f.home)
	if err != nil {
		return nil
	}
	return m
}

// genesisFile finds the root-of-trust genesis: --genesis, HOME/config/
// genesis.json, or a testnet validator's.
func (f *trustFlags) genesisFile() string {
	if f.genesis != "" {
		return f.genesis
	}
	p := filepath.Join(*f.home, "config", "genesis.json")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if m := f.manifest(); m != nil && len(m.Validators) > 0 {
		p := filepath.Join(m.Validators[0].Home, "config", "genesis.json")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// options builds the trust options for primary, without any request.
func (f *trustFlags) options(primary, chainID string) (client.TrustOptions, error) {
	o := client.TrustOptions{
		Period: f.period, Primary: primary, ChainID: chainID,
		Dir: filepath.Join(*f.home, client.TrustStoreDirName, f.storeName),
	}
	if f.period <= 0 {
		return o, fmt.Errorf("invalid --trusting-period %s: want a positive duration such as 168h", f.period)
	}
	if f.trustHeight != 0 || f.trustHash != "" {
		h, err := hex.DecodeString(strings.TrimPrefix(f.trustHash, "0x"))
		if err != nil || len(h) != 32 || f.trustHeight <= 0 {
			return o, fmt.Errorf("invalid --trust-height %d / --trust-hash %q: want both, a height above 0 and a 64-hex-character header hash (as `phalanxd query header` or a block explorer shows it)", f.trustHeight, f.trustHash)
		}
		o.Height, o.Hash = f.trustHeight, h
	}
	o.Genesis = f.genesisFile()
	if f.genesis != "" {
		if _, err := os.Stat(f.genesis); err != nil {
			return o, fmt.Errorf("invalid --genesis: %w", err)
		}
	}
	if o.Genesis == "" && o.Height == 0 {
		return o, fmt.Errorf("%w: no genesis file in %s (config/genesis.json or a testnet.json); pass --genesis FILE with the chain's genesis, or --trust-height and --trust-hash with a header you trust", client.ErrNoTrust, *f.home)
	}
	o.Witnesses = f.witnesses
	if len(o.Witnesses) == 0 {
		if m := f.manifest(); m != nil {
			p, _ := client.NormalizeNode(primary)
			for _, v := range m.Validators {
				if n, _ := client.NormalizeNode(v.RPC); n != p {
					o.Witnesses = append(o.Witnesses, v.RPC)
				}
			}
		}
	}
	return o, nil
}

// chainID is the chain id of the root of trust when it can be read
// without a request ("" otherwise).
func (f *trustFlags) chainID() string {
	g := f.genesisFile()
	if g == "" {
		return ""
	}
	id, err := readGenesisChainID(g)
	if err != nil {
		return ""
	}
	return id
}

// anchor creates the trust for c's node and sets it on c. warn receives
// the note about missing witnesses.
func (f *trustFlags) anchor(ctx context.Context, c *client.Client, chainID string, warn func(string)) (*client.Trust, error) {
	o, err := f.options(c.Node(), chainID)
	if err != nil {
		return nil, err
	}
	t, err := client.NewTrust(ctx, o)
	if err != nil {
		return nil, err
	}
	if note := t.WitnessNote(); note != "" && warn != nil {
		warn("warning: " + note)
	}
	c.SetTrust(t)
	return t, nil
}

// readGenesisChainID reads the chain id of a genesis file.
func readGenesisChainID(path string) (string, error) {
	doc, err := cmttypes.GenesisDocFromFile(path)
	if err != nil {
		return "", err
	}
	id := doc.ChainID
	if id == "" {
		return "", errors.New("genesis has no chain id")
	}
	return id, nil
}
