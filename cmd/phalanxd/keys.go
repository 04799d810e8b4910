package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/phalanx-bft/phalanx/config"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
)

func init() { extraCommands = append(extraCommands, keysCmd) }

// Output formats accepted by --output.
const (
	outputText = "text"
	outputJSON = "json"
)

// keysCmd is `phalanxd keys`: add, list, show and delete keys in the local
// keyring (package crypto/keyring).
func keysCmd() *cobra.Command {
	var kf keyringFlags
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the signing keys in the local keyring",
		Long: `Manage ed25519 signing keys stored under HOME/keyring-BACKEND.

The file backend (default) encrypts each private key with a passphrase
(argon2id + XChaCha20-Poly1305). The passphrase is read from the environment
variable ` + keyring.EnvPassphrase + ` when it is set and not empty,
otherwise from the terminal without echo (or one line per prompt from
standard input when it is not a terminal).

The test backend stores keys UNENCRYPTED; use it only for local test networks.`,
		Args: cobra.NoArgs,
	}
	kf.register(cmd)
	cmd.AddCommand(keysAddCmd(&kf), keysListCmd(&kf), keysShowCmd(&kf), keysDeleteCmd(&kf))
	return cmd
}

// keyringFlags are --home and --keyring-backend, shared by the keys
// subcommands.
type keyringFlags struct {
	home    string
	backend string
}

func (f *keyringFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.home, "home", config.DefaultHome(), "home directory holding the keyring")
	cmd.PersistentFlags().StringVar(&f.backend, "keyring-backend", string(keyring.BackendFile),
		"keyring backend: file (passphrase-encrypted) or test (unencrypted, local networks only)")
}

func (f *keyringFlags) open(cmd *cobra.Command) (*keyring.Keyring, error) {
	return openKeyring(cmd, f.home, f.backend)
}

// openKeyring opens the keyring for a CLI command, with passphrases taken
// from keyring.EnvPassphrase or asked on the command's input. Other
// commands that sign (tx … --from) use it too.
func openKeyring(cmd *cobra.Command, home, backend string) (*keyring.Keyring, error) {
	return keyring.New(home, keyring.Backend(backend), cliPassphrase(cmd.InOrStdin(), cmd.ErrOrStderr()))
}

// cliPassphrase returns a keyring.PassphraseFunc that reads
// keyring.EnvPassphrase if it is set and not empty, else prompts on prompts
// and reads from in: without echo when in is a terminal, one line per
// prompt otherwise. When confirm is set it asks twice and compares.
func cliPassphrase(in io.Reader, prompts io.Writer) keyring.PassphraseFunc {
	var lines *bufio.Reader // kept across prompts so buffered input is not lost
	read := func(prompt string) (string, error) {
		fmt.Fprint(prompts, prompt)
		if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			b, err := readPasswordRestoringOnInterrupt(int(f.Fd()), prompts)
			fmt.Fprintln(prompts)
			if err != nil {
				return "", fmt.Errorf("read passphrase from terminal: %w", err)
			}
			return string(b), nil
		}
		if lines == nil {
			lines = bufio.NewReader(in)
		}
		line, err := lines.ReadString('\n')
		if err != nil && (!errors.Is(err, io.EOF) || line == "") {
			if errors.Is(err, io.EOF) {
				return "", fmt.Errorf("no passphrase: standard input ended; set %s or run in a terminal", keyring.EnvPassphrase)
			}
			return "", fmt.Errorf("read passphrase from standard input: %w", err)
		}
		fmt.Fprintln(prompts)
		return strings.TrimRight(line, "\r\n"), nil
	}
	return func(prompt string, confirm bool) (string, error) {
		if p := os.Getenv(keyring.EnvPassphrase); p != "" {
			return p, nil
		}
		p, err := read(prompt)
		if err != nil || !confirm {
			return p, err
		}
		again, err := read("Repeat the passphrase: ")
		if err != nil {
			return "", err
		}
		if again != p {
			return "", errors.New("the two passphrases do not match; nothing was stored")
		}
		return p, nil
	}
}

// readPasswordRestoringOnInterrupt reads a line without echo. If the user
// presses Ctrl-C meanwhile, it turns echo back on before exiting, which
// term.ReadPassword alone does not do.
func readPasswordRestoringOnInterrupt(fd int, prompts io.Writer) ([]byte, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return nil, err
	}
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt)
	done := make(chan struct{})
	defer func() {
		signal.Stop(interrupts)
		close(done)
	}()
	go func() {
		select {
		case <-interrupts:
			_ = term.Restore(fd, state)
			fmt.Fprintln(prompts)
			os.Exit(130)
		case <-done:
		}
	}()
	return term.ReadPassword(fd)
}

func addOutputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", outputText, "output format: text or json")
}

func checkOutput(output string) error {
	if output != outputText && output != outputJSON {
		return fmt.Errorf("invalid --output %q: want %q or %q", output, outputText, outputJSON)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeKeyText(w io.Writer, info keyring.KeyInfo) {
	fmt.Fprintf(w, "name:    %s\n", info.Name)
	fmt.Fprintf(w, "address: %s\n", info.Address)
	fmt.Fprintf(w, "pub_key: %s\n", base64.StdEncoding.EncodeToString(info.PubKey))
	fmt.Fprintf(w, "backend: %s\n", info.Backend)
}

func keysAddCmd(kf *keyringFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Generate a new key and store it under NAME",
		Long: `Generate a new ed25519 key and store it under NAME (1-64 characters from
a-z, A-Z, 0-9, '_', '.', '-', starting with a letter, digit or '_').
The file backend asks for a passphrase twice (at least 8 characters).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			kr, err := kf.open(cmd)
			if err != nil {
				return err
			}
			info, err := kr.Add(args[0])
			if err != nil {
				return err
			}
			if info.Backend == keyring.BackendTest {
				fmt.Fprintf(cmd.ErrOrStderr(), "WARNING: key %q is stored UNENCRYPTED in %s (test backend); never use it for real roles\n", info.Name, kr.Dir())
			}
			if output == outputJSON {
				return writeJSON(cmd.OutOrStdout(), info)
			}
			writeKeyText(cmd.OutOrStdout(), info)
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func keysListCmd(kf *keyringFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the keys in the keyring, sorted by name",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			kr, err := kf.open(cmd)
			if err != nil {
				return err
			}
			infos, err := kr.List()
			if err != nil {
				return err
			}
			if output == outputJSON {
				if infos == nil {
					infos = []keyring.KeyInfo{}
				}
				return writeJSON(cmd.OutOrStdout(), infos)
			}
			if len(infos) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "no keys in %s\n", kr.Dir())
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tADDRESS\tPUB KEY")
			for _, info := range infos {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", info.Name, info.Address, base64.StdEncoding.EncodeToString(info.PubKey))
			}
			return tw.Flush()
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func keysShowCmd(kf *keyringFlags) *cobra.Command {
	var output string
	var addressOnly bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a key's address and public key (no passphrase needed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			kr, err := kf.open(cmd)
			if err != nil {
				return err
			}
			info, err := kr.Show(args[0])
			if err != nil {
				return err
			}
			switch {
			case addressOnly:
				fmt.Fprintln(cmd.OutOrStdout(), info.Address)
				return nil
			case output == outputJSON:
				return writeJSON(cmd.OutOrStdout(), info)
			}
			writeKeyText(cmd.OutOrStdout(), info)
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().BoolVarP(&addressOnly, "address", "a", false, "print only the address (overrides --output)")
	return cmd
}

func keysDeleteCmd(kf *keyringFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a key from the keyring",
		Long: `Delete a key from the keyring. Without --yes, asks for confirmation on
standard input ("y" or "yes"). A deleted key cannot be recovered unless you
kept a copy of its file.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kr, err := kf.open(cmd)
			if err != nil {
				return err
			}
			info, err := kr.Show(args[0])
			if err != nil {
				return err
			}
			if !yes {
				fmt.Fprintf(cmd.ErrOrStderr(), "Delete key %q (%s) from %s? It cannot be recovered without a backup. [y/N]: ",
					info.Name, info.Address, kr.Dir())
				answer, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				switch strings.ToLower(strings.TrimSpace(answer)) {
				case "y", "yes":
				default:
					return fmt.Errorf("key %q not deleted: not confirmed (answer y, or pass --yes)", info.Name)
				}
			}
			if err := kr.Delete(info.Name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted key %q (%s)\n", info.Name, info.Address)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking for confirmation")
	return cmd
}
