package app

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"testing"

	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

const testChainID = "phalanx-test"

// testKey is a deterministic ed25519 key for a name.
func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("phalanx-test-key/" + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func testPub(name string) []byte { return testKey(name).Public().(ed25519.PublicKey) }

func testAddr(name string) []byte { return crypto.Address(testPub(name)) }

// encodeTx signs body with priv and encodes the Tx.
func encodeTx(priv ed25519.PrivateKey, body *types.TxBody) []byte {
	bodyBytes, err := body.Marshal()
	if err != nil {
		panic(err)
	}
	tx := types.Tx{
		BodyBytes: bodyBytes,
		PubKey:    priv.Public().(ed25519.PublicKey),
		Signature: crypto.Sign(priv, bodyBytes),
	}
	raw, err := tx.Marshal()
	if err != nil {
		panic(err)
	}
	return raw
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// recordStore stands in for the abci store in simulations: it applies
// TakeChanges and rebuilds a State from the records, as a restarted
// validator does.
type recordStore struct {
	t       *testing.T
	records map[string][]byte
}

func newRecordStore(t *testing.T) *recordStore {
	return &recordStore{t: t, records: map[string][]byte{}}
}

func (r *recordStore) persist(ch []KV) {
	for _, kv := range ch {
		if kv.Value == nil {
			delete(r.records, string(kv.Key))
		} else {
			r.records[string(kv.Key)] = kv.Value
		}
	}
}

func (r *recordStore) load(h int64) *State {
	var kvs []KV
	for _, k := range sortedKeys(r.records) {
		kvs = append(kvs, KV{Key: []byte(k), Value: r.records[k]})
	}
	s, err := LoadState(testChainID, h, kvs)
	if err != nil {
		r.t.Fatalf("height %d: LoadState: %v", h, err)
	}
	return s
}
