package node

import (
	"testing"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/config"
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
