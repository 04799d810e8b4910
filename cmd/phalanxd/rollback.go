package main

import (
	"fmt"

	cmtcommands "github.com/cometbft/cometbft/cmd/cometbft/commands"
	"github.com/spf13/cobra"

	"github.com/phalanx-bft/phalanx/abci"
	"github.com/phalanx-bft/phalanx/config"
)

func init() { extraCommands = append(extraCommands, rollbackCmd) }

func rollbackCmd() *cobra.Command {
	var home string
	var hard bool
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Roll back CometBFT's state and the application's state by one height",
		Long: `Roll back one height, for recovery after an app hash mismatch or a bad
upgrade: CometBFT's state goes back from height H to H-1 (as "phalanxd comet
rollback" does) and the application's state is set to height H-1 as well, so
that the next start re-executes block H. With --hard, block H is removed
from the block store too and will be fetched from peers again.

Run it with the validator stopped. ("phalanxd comet rollback" alone would
leave the application one height ahead and the next start would fail its
handshake.)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(home)
			if err != nil {
				return err
			}
			height, hash, err := cmtcommands.RollbackState(cfg.Comet, hard)
			if err != nil {
				return fmt.Errorf("roll back CometBFT state: %w", err)
			}
			store, err := abci.OpenStore(cfg.Comet.DBDir(), 0)
			if err != nil {
				return err
			}
			defer store.Close()
			if store.Version() > height {
				if err := store.RollbackTo(height); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Rolled back to height %d (app hash %X)\n", height, hash)
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", config.DefaultHome(), "validator home directory")
	cmd.Flags().BoolVar(&hard, "hard", false, "also remove the last block from the block store")
	return cmd
}
