// Command phalanxd runs a Phalanx validator, its worker agent and its CLI.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries a process exit status through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	root := rootCmd()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "phalanxd",
		Short: "Phalanx: a cluster manager whose control plane is a BFT replicated state machine",
		Long: `Phalanx keeps a correct view of a cluster and keeps scheduling while f of
3f+1 validators crash, lie or are cut off. CometBFT orders signed
transactions; the Phalanx application applies them to a deterministic
cluster-state machine.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		initCmd(),
		startCmd(),
		versionCmd(),
		cometCmd(),
	)
	for _, add := range extraCommands {
		root.AddCommand(add())
	}
	return root
}

// extraCommands lets each command group register itself from its own file.
var extraCommands []func() *cobra.Command
