package node

import (
	"errors"
	"fmt"
	"os"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmtcrypto "github.com/cometbft/cometbft/crypto"
	"github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	cmttypes "github.com/cometbft/cometbft/types"
	cmttime "github.com/cometbft/cometbft/types/time"

	"github.com/phalanx-bft/phalanx/abci"
	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/config"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/types"
)

// DefaultValidatorPower is each genesis validator's voting power.
const DefaultValidatorPower = 10

// Validator is a home's consensus identity, as read by InitFiles.
type Validator struct {
	Moniker string
	NodeID  string
	PubKey  []byte // ed25519 consensus key
}

// The mempool settings `phalanxd init` and `phalanxd testnet init` write
// to config.toml's [mempool] (ADR 0015). CometBFT v1.0.1's mempool has no
// lanes: when it is full (size or max_txs_bytes) it refuses every
// transaction, heartbeats too. So it is sized to hold what the signers'
// budgets let non-health traffic queue plus a heartbeat from every node
// of the largest cluster, and what throttles the other traffic is the
// app: the per-signer budget in CheckTx (code 32), the size limit per
// message type (code 33), and the non-health share of every block
// (PrepareProposal), which bounds how fast it drains.
const (
	// MempoolSize is [mempool] size: a heartbeat in flight from each of
	// 20,000 nodes (api.MaxNodes before issue 12; CometBFT's default,
	// 5,000, is below it). A larger cluster is kept alive by attestations
	// (ADR 0018): its idle nodes send no heartbeat transactions. Every
	// block rechecks what is left; the signature cache (50,000 entries)
	// covers it, so a recheck costs no ed25519 verification.
	MempoolSize = 20_000
	// MempoolMaxTxsBytes is [mempool] max_txs_bytes, CometBFT's default
	// 64 MiB: 20,000 heartbeats of 1 KiB fill a third of it; a signer's
	// budget is 1 MiB (api.DefaultSignerPendingBytes), so filling the rest
	// needs 40 privileged keys at their budget.
	MempoolMaxTxsBytes = 64 << 20
	// MempoolMaxTxBytes is [mempool] max_tx_bytes: api.MaxTxBytes, so
	// CometBFT refuses a larger transaction before CheckTx and never
	// gossips it (its default is 1 MiB).
	MempoolMaxTxBytes = api.MaxTxBytes
	// MempoolCacheSize is [mempool] cache_size: twice the mempool, so that
	// a transaction gossiped again by peers shortly after it left the
	// mempool (committed) is recognised without CheckTx.
	MempoolCacheSize = 2 * MempoolSize
)

// DefaultCometConfig is the CometBFT configuration `phalanxd init` writes:
// CometBFT's defaults with goleveldb storage, RPC on loopback, the events
// a Phalanx user queries indexed, and the mempool settings above. Recheck
// stays on: CheckTx's per-signer view is rebuilt from the recheck after
// every block (abci/mempool.go), and a transaction a block invalidated
// leaves the mempool. Invalid transactions are not kept in the cache: one
// refused for a budget or a sequence may be valid a block later.
func DefaultCometConfig(home, moniker string) *cmtcfg.Config {
	c := cmtcfg.DefaultConfig()
	c.SetRoot(home)
	c.Moniker = moniker
	c.DBBackend = "goleveldb"
	c.RPC.ListenAddress = "tcp://127.0.0.1:26657"
	c.TxIndex.Indexer = "kv"
	c.Instrumentation.Namespace = "cometbft"
	c.Mempool.Size = MempoolSize
	c.Mempool.MaxTxsBytes = MempoolMaxTxsBytes
	c.Mempool.MaxTxBytes = MempoolMaxTxBytes
	c.Mempool.CacheSize = MempoolCacheSize
	c.Mempool.Recheck = true
	c.Mempool.KeepInvalidTxsInCache = false
	return c
}

// InitFiles creates home's CometBFT config, validator key, node key and
// app.toml if they do not exist, and returns the validator identity.
// It does not write a genesis file (see WriteGenesis).
func InitFiles(home string, c *cmtcfg.Config) (Validator, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return Validator{}, err
	}
	cmtcfg.EnsureRoot(home)
	cmtcfg.WriteConfigFile(config.CometFile(home), c)
	if _, err := os.Stat(config.AppFile(home)); errors.Is(err, os.ErrNotExist) {
		if err := config.WriteApp(home, config.DefaultApp()); err != nil {
			return Validator{}, err
		}
	}
	pv, err := privval.LoadOrGenFilePV(c.PrivValidatorKeyFile(), c.PrivValidatorStateFile(), func() (cmtcrypto.PrivKey, error) {
		return ed25519.GenPrivKey(), nil
	})
	if err != nil {
		return Validator{}, fmt.Errorf("validator key: %w", err)
	}
	nodeKey, err := p2p.LoadOrGenNodeKey(c.NodeKeyFile())
	if err != nil {
		return Validator{}, fmt.Errorf("node key: %w", err)
	}
	pub, err := pv.GetPubKey()
	if err != nil {
		return Validator{}, err
	}
	return Validator{Moniker: c.Moniker, NodeID: string(nodeKey.ID()), PubKey: pub.Bytes()}, nil
}

// WriteGenesis writes genesis.json with the given validators (equal power)
// and app state.
func WriteGenesis(path, chainID string, vals []Validator, g *api.Genesis) error {
	appState, err := g.MarshalJSON()
	if err != nil {
		return fmt.Errorf("app state: %w", err)
	}
	params := cmttypes.DefaultConsensusParams()
	// The app version in block headers comes from Info's AppVersion, but
	// CometBFT's rollback rebuilds it from the consensus params: keep the
	// two equal so a rolled-back node replays its blocks.
	params.Version.App = abci.AppVersion
	doc := &cmttypes.GenesisDoc{
		ChainID:         chainID,
		GenesisTime:     cmttime.Now().Truncate(time.Second),
		ConsensusParams: params,
		AppState:        appState,
	}
	for _, v := range vals {
		pk := ed25519.PubKey(v.PubKey)
		doc.Validators = append(doc.Validators, cmttypes.GenesisValidator{
			Address: pk.Address(), PubKey: pk, Power: DefaultValidatorPower, Name: v.Moniker,
		})
	}
	if err := doc.ValidateAndComplete(); err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	return doc.SaveAs(path)
}

// InitOptions are the arguments of `phalanxd init`.
type InitOptions struct {
	Home    string
	ChainID string
	Moniker string
	// Overwrite replaces an existing genesis file.
	Overwrite bool
	// KeyringBackend holds the admin key: keyring.BackendTest (the
	// default: unencrypted, for local networks) or keyring.BackendFile
	// (encrypted; Passphrase is asked for it).
	KeyringBackend keyring.Backend
	Passphrase     func(prompt string, confirm bool) (string, error)
}

// InitResult describes what Init created.
type InitResult struct {
	Validator    Validator
	GenesisFile  string
	AdminAddress string
}

// Init prepares a single-validator home: keys, config, and a genesis whose
// app state grants admin, operator and observer to the `admin` key of the
// home's keyring (opts.KeyringBackend; test unless told otherwise).
func Init(opts InitOptions) (*InitResult, error) {
	if opts.ChainID == "" {
		return nil, errors.New("chain id is empty; expected --chain-id NAME")
	}
	if opts.Moniker == "" {
		host, _ := os.Hostname()
		opts.Moniker = host
	}
	c := DefaultCometConfig(opts.Home, opts.Moniker)
	if _, err := os.Stat(c.GenesisFile()); err == nil && !opts.Overwrite {
		return nil, fmt.Errorf("%s already exists; refusing to overwrite (remove it or pass --overwrite)", c.GenesisFile())
	}
	val, err := InitFiles(opts.Home, c)
	if err != nil {
		return nil, err
	}
	backend := opts.KeyringBackend
	if backend == "" {
		backend = keyring.BackendTest
	}
	kr, err := keyring.New(opts.Home, backend, opts.Passphrase)
	if err != nil {
		return nil, err
	}
	admin, err := kr.Show("admin")
	if errors.Is(err, keyring.ErrKeyNotFound) {
		admin, err = kr.Add("admin")
	}
	if err != nil {
		return nil, fmt.Errorf("admin key: %w", err)
	}
	g := &api.Genesis{Params: api.DefaultParams()}
	g.Accounts = append(g.Accounts, types.GenesisAccount{
		Address: crypto.Address(admin.PubKey),
		PubKey:  admin.PubKey,
		Roles:   []types.Role{types.ROLE_ADMIN, types.ROLE_OPERATOR, types.ROLE_OBSERVER},
	})
	if err := WriteGenesis(c.GenesisFile(), opts.ChainID, []Validator{val}, g); err != nil {
		return nil, err
	}
	return &InitResult{Validator: val, GenesisFile: c.GenesisFile(), AdminAddress: admin.Address}, nil
}
