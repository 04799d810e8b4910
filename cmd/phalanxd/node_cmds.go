package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"

	cmtcommands "github.com/cometbft/cometbft/cmd/cometbft/commands"
	"github.com/cometbft/cometbft/cmd/cometbft/commands/debug"
	"github.com/cometbft/cometbft/libs/cli"
	"github.com/spf13/cobra"

	"github.com/phalanx-bft/phalanx/config"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
	"github.com/phalanx-bft/phalanx/node"
	"github.com/phalanx-bft/phalanx/version"
)

func initCmd() *cobra.Command {
	var home, chainID, moniker, backend string
	var overwrite bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a validator home: keys, CometBFT config and a one-validator genesis",
		Long: `Create a validator home: validator and node keys, CometBFT config, app.toml,
and a genesis whose app state grants admin, operator and observer roles to
the key "admin" of the home's keyring (created if missing). The keyring is
the unencrypted test one unless --keyring-backend file is given: then the
admin key is encrypted with a passphrase ($` + keyring.EnvPassphrase + ` or the terminal),
as a real operator's key should be.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if backend != string(keyring.BackendTest) && backend != string(keyring.BackendFile) {
				return fmt.Errorf("invalid --keyring-backend %q: expected file or test", backend)
			}
			res, err := node.Init(node.InitOptions{Home: home, ChainID: chainID, Moniker: moniker, Overwrite: overwrite,
				KeyringBackend: keyring.Backend(backend), Passphrase: cliPassphrase(cmd.InOrStdin(), cmd.ErrOrStderr())})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Initialised %s\n", home)
			fmt.Fprintf(out, "  chain id:      %s\n", chainID)
			fmt.Fprintf(out, "  node id:       %s\n", res.Validator.NodeID)
			fmt.Fprintf(out, "  genesis:       %s\n", res.GenesisFile)
			fmt.Fprintf(out, "  admin account: %s (key \"admin\", --keyring-backend %s)\n", res.AdminAddress, backend)
			fmt.Fprintf(out, "Start it with: phalanxd start --home %s\n", home)
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", config.DefaultHome(), "validator home directory")
	cmd.Flags().StringVar(&chainID, "chain-id", "", "chain id (required)")
	cmd.Flags().StringVar(&moniker, "moniker", "", "validator name (default: host name)")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace an existing genesis file")
	cmd.Flags().StringVar(&backend, "keyring-backend", string(keyring.BackendTest),
		"keyring for the admin key: test (unencrypted, local networks) or file (encrypted with a passphrase)")
	_ = cmd.MarkFlagRequired("chain-id")
	return cmd
}

func startCmd() *cobra.Command {
	var home string
	var censor bool
	var testApp string
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run the validator: CometBFT in-process with the Phalanx application",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if censor {
				fmt.Fprintln(cmd.ErrOrStderr(), "WARNING: --test-censor-txs: this validator will admit transactions, never gossip them and propose only empty blocks (a censoring validator, for tests only)")
			}
			return node.RunWithOptions(ctx, home, nil, node.Options{TestCensorTxs: censor, TestApp: testApp})
		},
	}
	cmd.Flags().StringVar(&home, "home", config.DefaultHome(), "validator home directory")
	// Hidden: a Byzantine behaviour for the fault tests (tests/fault_test.go).
	cmd.Flags().BoolVar(&censor, "test-censor-txs", false, "TEST ONLY: admit transactions but never gossip or propose them")
	_ = cmd.Flags().MarkHidden("test-censor-txs")
	// Hidden: the load bench's baseline (phalanxd load bench, cmd/phalanxd/load_bench.go).
	cmd.Flags().StringVar(&testApp, "test-app", "", "BENCHMARK ONLY: run CometBFT's example application "+node.TestAppKVStore+" instead of Phalanx")
	_ = cmd.Flags().MarkHidden("test-app")
	return cmd
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "phalanxd %s (CometBFT %s, %s)\n", version.Version, version.CometBFT, runtime.Version())
		},
	}
}

var (
	cometOnce sync.Once
	cometRoot *cobra.Command
)

// cometCmd exposes CometBFT's own maintenance commands, reused as they are:
// they read the same home (--home) and config.toml. CometBFT's commands are
// package-level values, so the group is built once per process.
func cometCmd() *cobra.Command {
	cometOnce.Do(func() { cometRoot = buildCometCmd() })
	return cometRoot
}

func buildCometCmd() *cobra.Command {
	c := cmtcommands.RootCmd
	c.Use = "comet"
	c.Short = "CometBFT maintenance commands (show-node-id, show-validator, unsafe-reset-all, rollback, inspect, …)"
	c.AddCommand(
		cmtcommands.ShowNodeIDCmd,
		cmtcommands.ShowValidatorCmd,
		cmtcommands.GenNodeKeyCmd,
		cmtcommands.GenValidatorCmd,
		cmtcommands.ResetAllCmd,
		cmtcommands.ResetStateCmd,
		cmtcommands.ResetPrivValidatorCmd,
		cmtcommands.RollbackStateCmd,
		cmtcommands.CompactGoLevelDBCmd,
		cmtcommands.InspectCmd,
		cmtcommands.ReIndexEventCmd,
		cmtcommands.LightCmd,
		cmtcommands.VersionCmd,
		debug.DebugCmd,
	)
	exec := cli.PrepareBaseCmd(c, "CMT", filepath.Join(config.DefaultHome()))
	return exec.Command
}
