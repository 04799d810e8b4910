package abci

import (
	"errors"
	"fmt"

	"github.com/cosmos/iavl"
	iavldb "github.com/cosmos/iavl/db"
	ics23 "github.com/cosmos/ics23/go"

	"github.com/phalanx-bft/phalanx/app"
)

// storeCacheNodes is the IAVL node cache size (nodes, not bytes).
const storeCacheNodes = 100_000

// Store is the authenticated, versioned state: an IAVL tree on goleveldb.
// Version N of the tree holds the state after block N; its root hash is the
// app hash CometBFT records in block N+1's header.
type Store struct {
	db         iavldb.DB
	tree       *iavl.MutableTree
	keepBlocks int64
}

// OpenStore opens (or creates) the store in dir/app.db. keepBlocks > 0
// prunes versions older than that many blocks; 0 keeps every version.
func OpenStore(dir string, keepBlocks int64) (*Store, error) {
	db, err := iavldb.NewDB("app", "goleveldb", dir)
	if err != nil {
		return nil, fmt.Errorf("open app database in %s: %w", dir, err)
	}
	// One synced batch per commit: Sync makes the write durable before Commit
	// returns, and a flush threshold far above any block's size keeps the
	// whole version (nodes, root, version marker) in a single batch (IAVL
	// finds the latest version from the highest node key, so a version
	// split across batches could be half-visible after a crash).
	tree := iavl.NewMutableTree(lazyBatchDB{db}, storeCacheNodes, true, iavl.NewNopLogger(),
		iavl.SyncOption(true), iavl.FlushThresholdOption(1<<30))
	if _, err := tree.Load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("load app state: %w", err)
	}
	return &Store{db: db, tree: tree, keepBlocks: keepBlocks}, nil
}

// Close releases the database.
func (s *Store) Close() error { return s.db.Close() }

// Version is the last committed height (0 before the first block).
func (s *Store) Version() int64 { return s.tree.Version() }

// Hash is the root hash of the last committed version.
func (s *Store) Hash() []byte { return s.tree.Hash() }

// SetInitialVersion makes the first committed version equal to the chain's
// initial height.
func (s *Store) SetInitialVersion(v int64) {
	if v > 1 {
		s.tree.SetInitialVersion(uint64(v))
	}
}

// Apply stages changed records and returns the resulting working hash: the
// app hash of the block being finalized.
func (s *Store) Apply(changes []app.KV) ([]byte, error) {
	for _, kv := range changes {
		if kv.Value == nil {
			if _, _, err := s.tree.Remove(kv.Key); err != nil {
				return nil, fmt.Errorf("remove %q: %w", kv.Key, err)
			}
			continue
		}
		if _, err := s.tree.Set(kv.Key, kv.Value); err != nil {
			return nil, fmt.Errorf("set %q: %w", kv.Key, err)
		}
	}
	return s.tree.WorkingHash(), nil
}

// Commit writes the staged version in one synced batch and prunes old
// versions.
func (s *Store) Commit() (hash []byte, version int64, err error) {
	hash, version, err = s.tree.SaveVersion()
	if err != nil {
		return nil, 0, fmt.Errorf("save version: %w", err)
	}
	if s.keepBlocks > 0 && version > s.keepBlocks {
		if err := s.tree.DeleteVersionsTo(version - s.keepBlocks); err != nil {
			return nil, 0, fmt.Errorf("prune versions to %d: %w", version-s.keepBlocks, err)
		}
	}
	return hash, version, nil
}

// Records returns every record of the last committed version in key order.
func (s *Store) Records() ([]app.KV, error) {
	var out []app.KV
	_, err := s.tree.ImmutableTree.Iterate(func(k, v []byte) bool {
		out = append(out, app.KV{Key: append([]byte(nil), k...), Value: append([]byte(nil), v...)})
		return false
	})
	return out, err
}

// ErrVersionUnavailable: the requested height was pruned or is in the future.
var ErrVersionUnavailable = errors.New("height not available")

// GetWithProof reads key at version (a committed height) and returns its
// value (nil if absent) and an ics23 proof of membership or absence against
// that version's root hash.
func (s *Store) GetWithProof(key []byte, version int64) ([]byte, *ics23.CommitmentProof, error) {
	if !s.tree.VersionExists(version) {
		return nil, nil, fmt.Errorf("%w: height %d (latest %d)", ErrVersionUnavailable, version, s.tree.Version())
	}
	t, err := s.tree.GetImmutable(version)
	if err != nil {
		return nil, nil, err
	}
	value, err := t.Get(key)
	if err != nil {
		return nil, nil, err
	}
	proof, err := t.GetProof(key)
	if err != nil {
		return nil, nil, err
	}
	return value, proof, nil
}

// lazyBatchDB stops IAVL from preallocating a batch of the flush threshold's
// size (1 GiB here) on every commit: batches grow as they are filled.
type lazyBatchDB struct{ iavldb.DB }

func (d lazyBatchDB) NewBatchWithSize(int) iavldb.Batch { return d.DB.NewBatch() }

// RollbackTo makes version the latest, deleting every later version. It is
// the app side of `phalanxd rollback`, run while the node is stopped.
func (s *Store) RollbackTo(version int64) error {
	if version < 1 || version > s.tree.Version() {
		return fmt.Errorf("rollback to height %d: expected a height in [1, %d]", version, s.tree.Version())
	}
	if err := s.tree.LoadVersionForOverwriting(version); err != nil {
		return fmt.Errorf("rollback to height %d: %w", version, err)
	}
	return nil
}
