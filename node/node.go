// Package node wires one Phalanx validator: CometBFT in-process with the
// Phalanx ABCI application over a local client, both on goleveldb.
package node

import (
	"context"
	"fmt"
	"os"

	dbm "github.com/cometbft/cometbft-db"
	"github.com/cometbft/cometbft/abci/example/kvstore"
	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtcfg "github.com/cometbft/cometbft/config"
	cmtflags "github.com/cometbft/cometbft/libs/cli/flags"
	"github.com/cometbft/cometbft/libs/log"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/phalanx-bft/phalanx/abci"
	"github.com/phalanx-bft/phalanx/config"
)

// Service is a running (or startable) validator.
type Service struct {
	cfg    *config.Config
	logger log.Logger
	// closeApp closes the application's database after CometBFT stopped.
	closeApp func() error
	node     *nm.Node
}

// TestAppKVStore names CometBFT's own example application
// (abci/example/kvstore at the pinned CometBFT version) for
// Options.TestApp: the load bench (`phalanxd load bench`) runs it in the
// very same binary, network layout and config as Phalanx, as a baseline.
const TestAppKVStore = "kvstore"

// kvstoreDB is the goleveldb database of the kvstore test application, in
// the home's data directory beside CometBFT's.
const kvstoreDB = "kvstore"

// ValidTestApp reports whether name is "" (Phalanx) or a known test app.
func ValidTestApp(name string) error {
	switch name {
	case "", TestAppKVStore:
		return nil
	}
	return fmt.Errorf("test app %q: expected %q (or none, for Phalanx)", name, TestAppKVStore)
}

// Options are the settings of a validator beyond its home.
type Options struct {
	// TestCensorTxs, for tests only, makes a censoring validator: it
	// admits transactions to its mempool (CheckTx as usual) but never
	// gossips them (CometBFT mempool.broadcast = false) and proposes only
	// empty blocks (abci.Config.TestCensorTxs). It still votes for, and
	// commits, the blocks of the other validators.
	TestCensorTxs bool
	// TestApp, for benchmarks only, runs another ABCI application than
	// Phalanx under the same CometBFT node and config: TestAppKVStore.
	// Empty runs Phalanx.
	TestApp string
}

// New loads home and builds the node without starting it.
func New(home string, logger log.Logger) (*Service, error) {
	return NewWithOptions(home, logger, Options{})
}

// NewWithOptions is New with opts.
func NewWithOptions(home string, logger log.Logger, opts Options) (*Service, error) {
	if err := ValidTestApp(opts.TestApp); err != nil {
		return nil, err
	}
	if opts.TestApp != "" && opts.TestCensorTxs {
		return nil, fmt.Errorf("--test-censor-txs applies to the Phalanx application only, not to test app %q", opts.TestApp)
	}
	cfg, err := config.Load(home)
	if err != nil {
		return nil, err
	}
	if opts.TestCensorTxs {
		cfg.Comet.Mempool.Broadcast = false
	}
	if logger == nil {
		logger = log.NewTMLogger(log.NewSyncWriter(os.Stdout))
		if cfg.Comet.LogFormat == cmtcfg.LogFormatJSON {
			logger = log.NewTMJSONLogger(log.NewSyncWriter(os.Stdout))
		}
		logger, err = cmtflags.ParseLogLevel(cfg.Comet.LogLevel, logger, cmtcfg.DefaultLogLevel)
		if err != nil {
			return nil, fmt.Errorf("log_level in %s: %w", config.CometFile(home), err)
		}
	}
	genDoc, err := cmttypes.GenesisDocFromFile(cfg.Comet.GenesisFile())
	if err != nil {
		return nil, fmt.Errorf("read genesis: %w", err)
	}
	creator, closeApp, err := newApp(cfg, genDoc.ChainID, logger, opts)
	if err != nil {
		return nil, err
	}
	pv := privval.LoadFilePV(cfg.Comet.PrivValidatorKeyFile(), cfg.Comet.PrivValidatorStateFile())
	nodeKey, err := p2p.LoadNodeKey(cfg.Comet.NodeKeyFile())
	if err != nil {
		_ = closeApp()
		return nil, fmt.Errorf("load node key: %w", err)
	}
	n, err := nm.NewNode(context.Background(), cfg.Comet, pv, nodeKey,
		creator,
		nm.DefaultGenesisDocProviderFunc(cfg.Comet),
		cmtcfg.DefaultDBProvider,
		nm.DefaultMetricsProvider(cfg.Comet.Instrumentation),
		logger)
	if err != nil {
		_ = closeApp()
		return nil, fmt.Errorf("create CometBFT node: %w", err)
	}
	return &Service{cfg: cfg, logger: logger, closeApp: closeApp, node: n}, nil
}

// newApp builds the ABCI application of opts (Phalanx, or a test app)
// and the function that closes its database.
func newApp(cfg *config.Config, chainID string, logger log.Logger, opts Options) (proxy.ClientCreator, func() error, error) {
	if opts.TestApp == TestAppKVStore {
		db, err := dbm.NewGoLevelDB(kvstoreDB, cfg.Comet.DBDir())
		if err != nil {
			return nil, nil, fmt.Errorf("open the kvstore database: %w", err)
		}
		var app abcitypes.Application = kvstore.NewApplication(db)
		// kvstore is not safe for concurrent calls: CometBFT's locking
		// local client serialises them, as its own `cometbft node
		// --proxy_app kvstore` does.
		return proxy.NewLocalClientCreator(app), db.Close, nil
	}
	application, err := abci.New(abci.Config{
		ChainID:            chainID,
		DataDir:            cfg.Comet.DBDir(),
		KeepBlocks:         cfg.App.KeepBlocks,
		SignerPendingTxs:   cfg.App.SignerPendingTxs,
		SignerPendingBytes: cfg.App.SignerPendingBytes,

		NonHealthPendingTxs:   cfg.App.NonHealthPendingTxs,
		NonHealthPendingBytes: cfg.App.NonHealthPendingBytes,
		TestCensorTxs:         opts.TestCensorTxs,
		Logger:                logger.With("module", "phalanx"),
	})
	if err != nil {
		return nil, nil, err
	}
	// The application serialises its own state (abci.Application); a
	// query must not wait for FinalizeBlock, nor FinalizeBlock for it.
	return proxy.NewUnsyncLocalClientCreator(application), application.Close, nil
}

// Config is the loaded home configuration.
func (s *Service) Config() *config.Config { return s.cfg }

// Node is the CometBFT node (for its RPC environment and status).
func (s *Service) Node() *nm.Node { return s.node }

// Start starts consensus, p2p and RPC.
func (s *Service) Start() error {
	if err := s.node.Start(); err != nil {
		_ = s.closeApp()
		return fmt.Errorf("start node: %w", err)
	}
	return nil
}

// Stop stops CometBFT, waits for it, and closes the app database.
func (s *Service) Stop() error {
	var err error
	if s.node.IsRunning() {
		if err = s.node.Stop(); err == nil {
			s.node.Wait()
		}
	}
	if cerr := s.closeApp(); err == nil {
		err = cerr
	}
	return err
}

// Run starts the validator and stops it cleanly when ctx is done.
func Run(ctx context.Context, home string, logger log.Logger) error {
	return RunWithOptions(ctx, home, logger, Options{})
}

// RunWithOptions is Run with opts.
func RunWithOptions(ctx context.Context, home string, logger log.Logger, opts Options) error {
	s, err := NewWithOptions(home, logger, opts)
	if err != nil {
		return err
	}
	if opts.TestCensorTxs {
		s.logger.Error("TEST MODE --test-censor-txs: this validator admits transactions but never gossips them nor proposes any (empty blocks only); never run it on a real network")
	}
	if opts.TestApp != "" {
		s.logger.Error("TEST MODE --test-app: this validator runs CometBFT's example application, not Phalanx (a benchmark baseline); never run it on a real network", "app", opts.TestApp)
	}
	if err := s.Start(); err != nil {
		return err
	}
	s.logger.Info("phalanx validator started", "home", home, "rpc", s.cfg.Comet.RPC.ListenAddress, "p2p", s.cfg.Comet.P2P.ListenAddress)
	<-ctx.Done()
	s.logger.Info("stopping phalanx validator")
	return s.Stop()
}
