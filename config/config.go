// Package config loads a Phalanx home directory: CometBFT's own
// config/config.toml and Phalanx's config/app.toml. Both are local to one
// validator and never influence consensus decisions (DESIGN §7).
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/spf13/viper"

	"github.com/phalanx-bft/phalanx/api"
)

// DefaultHome is where commands look when --home is not given.
func DefaultHome() string {
	if h := os.Getenv("PHALANX_HOME"); h != "" {
		return h
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".phalanx"
	}
	return filepath.Join(home, ".phalanx")
}

// App is the Phalanx-specific part of a home's configuration.
type App struct {
	// KeepBlocks is how many recent state versions are kept for queries
	// with proofs; 0 keeps every version.
	KeepBlocks int64 `mapstructure:"keep_blocks"`
	// SignerPendingTxs and SignerPendingBytes bound one signer's
	// transactions (and their bytes) waiting in this validator's mempool;
	// CheckTx refuses more with code 32 (ADR 0015). 0 means the default,
	// api.DefaultSignerPendingTxs / api.DefaultSignerPendingBytes.
	SignerPendingTxs   int `mapstructure:"signer_pending_txs"`
	SignerPendingBytes int `mapstructure:"signer_pending_bytes"`
	// NonHealthPendingTxs and NonHealthPendingBytes bound the non-health
	// transactions of all signers together in this validator's mempool;
	// CheckTx refuses more with code 36. 0 means the default,
	// api.DefaultNonHealthPendingTxs / api.DefaultNonHealthPendingBytes.
	NonHealthPendingTxs   int `mapstructure:"nonhealth_pending_txs"`
	NonHealthPendingBytes int `mapstructure:"nonhealth_pending_bytes"`
}

// DefaultApp returns the settings `phalanxd init` writes.
func DefaultApp() App {
	return App{KeepBlocks: 10_000, SignerPendingTxs: api.DefaultSignerPendingTxs, SignerPendingBytes: api.DefaultSignerPendingBytes,
		NonHealthPendingTxs: api.DefaultNonHealthPendingTxs, NonHealthPendingBytes: api.DefaultNonHealthPendingBytes}
}

// Validate reports impossible settings.
func (a App) Validate() error {
	if a.KeepBlocks < 0 {
		return fmt.Errorf("app.toml: keep_blocks is %d; expected 0 (keep all) or a positive number of blocks", a.KeepBlocks)
	}
	if a.SignerPendingTxs < 0 || a.SignerPendingBytes < 0 {
		return fmt.Errorf("app.toml: signer_pending_txs is %d, signer_pending_bytes %d; expected 0 (the default) or more", a.SignerPendingTxs, a.SignerPendingBytes)
	}
	if a.NonHealthPendingTxs < 0 || a.NonHealthPendingBytes < 0 {
		return fmt.Errorf("app.toml: nonhealth_pending_txs is %d, nonhealth_pending_bytes %d; expected 0 (the default) or more", a.NonHealthPendingTxs, a.NonHealthPendingBytes)
	}
	return nil
}

// Config is a loaded home.
type Config struct {
	Home  string
	Comet *cmtcfg.Config
	App   App
}

// AppFile is the path of app.toml in home.
func AppFile(home string) string { return filepath.Join(home, "config", "app.toml") }

// CometFile is the path of CometBFT's config.toml in home.
func CometFile(home string) string { return filepath.Join(home, "config", "config.toml") }

// Load reads both files of home. A missing app.toml means defaults.
func Load(home string) (*Config, error) {
	if _, err := os.Stat(CometFile(home)); err != nil {
		return nil, fmt.Errorf("no CometBFT config at %s (run `phalanxd init --home %s` first): %w", CometFile(home), home, err)
	}
	v := viper.New()
	v.SetConfigFile(CometFile(home))
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("read %s: %w", CometFile(home), err)
	}
	comet := cmtcfg.DefaultConfig()
	if err := v.Unmarshal(comet); err != nil {
		return nil, fmt.Errorf("parse %s: %w", CometFile(home), err)
	}
	comet.SetRoot(home)
	if err := comet.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("%s: %w", CometFile(home), err)
	}
	appCfg := DefaultApp()
	if _, err := os.Stat(AppFile(home)); err == nil {
		av := viper.New()
		av.SetConfigFile(AppFile(home))
		if err := av.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("read %s: %w", AppFile(home), err)
		}
		if err := av.Unmarshal(&appCfg); err != nil {
			return nil, fmt.Errorf("parse %s: %w", AppFile(home), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := appCfg.Validate(); err != nil {
		return nil, err
	}
	return &Config{Home: home, Comet: comet, App: appCfg}, nil
}

// WriteApp writes app.toml (0600).
func WriteApp(home string, a App) error {
	if err := os.MkdirAll(filepath.Dir(AppFile(home)), 0o700); err != nil {
		return err
	}
	body := fmt.Sprintf(`# Phalanx application settings: local to this validator, never consensus-relevant.

# Recent state versions kept for queries with proofs (0 = keep all).
keep_blocks = %d

# One signer's budget in this validator's mempool: transactions and bytes
# admitted and not yet in a block (code 32 beyond; 0 = the default).
signer_pending_txs = %d
signer_pending_bytes = %d

# All signers' transactions other than heartbeats, health reports and
# evidence in this validator's mempool: at most this many and bytes
# (code 36 beyond; 0 = the default), so health traffic always finds room.
nonhealth_pending_txs = %d
nonhealth_pending_bytes = %d
`, a.KeepBlocks, a.SignerPendingTxs, a.SignerPendingBytes, a.NonHealthPendingTxs, a.NonHealthPendingBytes)
	return os.WriteFile(AppFile(home), []byte(body), 0o600)
}
