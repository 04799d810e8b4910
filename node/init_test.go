package node

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/config"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
)

// TestInitWritesMempoolSettings: a new home's config.toml carries the
// mempool settings of ADR 0015 and its app.toml the signer budget, and
// both load back.
func TestInitWritesMempoolSettings(t *testing.T) {
	home := t.TempDir()
	if _, err := Init(InitOptions{Home: home, ChainID: "mempool-test", Moniker: "v0"}); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(home)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Comet.Mempool
	if m.Size != MempoolSize || m.MaxTxsBytes != MempoolMaxTxsBytes || m.MaxTxBytes != api.MaxTxBytes ||
		m.CacheSize != MempoolCacheSize || !m.Recheck || m.KeepInvalidTxsInCache {
		t.Errorf("[mempool] size=%d max_txs_bytes=%d max_tx_bytes=%d cache_size=%d recheck=%v keep_invalid=%v; want %d %d %d %d true false",
			m.Size, m.MaxTxsBytes, m.MaxTxBytes, m.CacheSize, m.Recheck, m.KeepInvalidTxsInCache,
			MempoolSize, MempoolMaxTxsBytes, api.MaxTxBytes, MempoolCacheSize)
	}
	if c.App.SignerPendingTxs != api.DefaultSignerPendingTxs || c.App.SignerPendingBytes != api.DefaultSignerPendingBytes {
		t.Errorf("app.toml signer budget %d txs, %d bytes; want %d, %d", c.App.SignerPendingTxs, c.App.SignerPendingBytes,
			api.DefaultSignerPendingTxs, api.DefaultSignerPendingBytes)
	}
}

// init --keyring-backend file: the genesis admin key is encrypted with the
// passphrase given, and the genesis grants the roles to it.
func TestInitAdminKeyInFileKeyring(t *testing.T) {
	home := t.TempDir()
	pass := func(string, bool) (string, error) { return "correct horse battery", nil }
	res, err := Init(InitOptions{Home: home, ChainID: "file-test", Moniker: "v0", KeyringBackend: keyring.BackendFile, Passphrase: pass})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, "keyring-test")); err == nil {
		t.Error("a test keyring was written next to the file keyring")
	}
	kr, err := keyring.New(home, keyring.BackendFile, pass)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := kr.Signer("admin")
	if err != nil {
		t.Fatal(err)
	}
	if got := crypto.AddressHex(priv.Public().(ed25519.PublicKey)); got != res.AdminAddress {
		t.Fatalf("admin key %s; genesis names %s", got, res.AdminAddress)
	}
	wrong, err := keyring.New(home, keyring.BackendFile, func(string, bool) (string, error) { return "wrong", nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.Signer("admin"); err == nil {
		t.Fatal("the admin key opened with a wrong passphrase: it is not encrypted")
	}
	g, err := os.ReadFile(filepath.Join(home, "config", "genesis.json"))
	if err != nil || !strings.Contains(string(g), res.AdminAddress) {
		t.Fatalf("genesis does not name the admin %s: %v", res.AdminAddress, err)
	}
}
