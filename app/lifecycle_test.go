package app

import (
	"strings"
	"testing"

	"github.com/phalanx-bft/phalanx/types"
)

func removeNodeTx(id string, force bool) *types.TxBody {
	return &types.TxBody{Msg: &types.TxBody_RemoveNode{RemoveNode: &types.RemoveNode{NodeId: id, Force: force}}}
}

// TestRemoveNodeCommitsAndReloads: a forced removal passes the end of the
// block's check, and the state loaded from the persisted records equals
// the live one (the node, its reports and its key's role gone; its tasks
// placed elsewhere with higher generations).
func TestRemoveNodeCommitsAndReloads(t *testing.T) {
	store := newRecordStore(t)
	s := checkedState(t, store)
	gens := map[string]uint64{}
	for _, t := range s.tasksOn("n1") {
		gens[t.Id] = t.Generation
	}
	if len(gens) == 0 {
		t.Fatal("fixture: n1 holds no task")
	}
	if res := deliver(t, s, "ops", removeNodeTx("n1", false)); res.Code != 34 {
		t.Fatalf("remove without force: code %d (%s); want 38", res.Code, res.Log)
	}
	if res := deliver(t, s, "ops", removeNodeTx("n1", true)); res.Code != 0 {
		t.Fatalf("remove with force: %s", res.Log)
	}
	s.EndBlock()
	store.persist(s.TakeChanges())
	// max_per_node 2: n2 (holding web/2) takes one of n1's two tasks; the
	// other waits, Pending.
	for id, gen := range gens {
		task := s.tasks[id]
		placed := task.Node == "n2" && task.Generation == gen+2
		pending := task.Node == "" && task.State == types.TASK_PENDING && task.Generation == gen+1
		if !placed && !pending {
			t.Errorf("%s: node %q generation %d (was %d); want n2 at %d or Pending at %d", id, task.Node, task.Generation, gen, gen+2, gen+1)
		}
	}
	if acc := s.accounts[addrHex(testAddr("n1"))]; acc == nil || len(acc.Roles) != 0 {
		t.Errorf("n1's key account: %+v; want kept, without role node", acc)
	}
	loaded := store.load(s.height)
	compareQueries(t, "after removal", s, loaded)
	if len(loaded.nodes) != 1 || loaded.nodes["n1"] != nil {
		t.Errorf("loaded nodes: %v", sortedKeys(loaded.nodes))
	}
}

// TestBlockCheckCatchesNodeDeletion: a node record deleted other than by
// RemoveNode, or removed but left in an index, halts the block.
func TestBlockCheckCatchesNodeDeletion(t *testing.T) {
	if !blockChecks {
		t.Skip("-no-block-checks")
	}
	cases := []struct {
		name    string
		corrupt func(s *State)
		want    string
	}{{
		name: "deleted without RemoveNode",
		corrupt: func(s *State) {
			delete(s.nodes, "n2")
			s.touch(prefixNodes + "n2")
		},
		want: "node n2: its record was deleted, but not by RemoveNode",
	}, {
		name: "removed, key still indexed",
		corrupt: func(s *State) {
			if res := deliver(t, s, "ops", removeNodeTx("n2", true)); res.Code != 0 {
				t.Fatalf("remove: %s", res.Log)
			}
			s.nodeByKey[string(testPub("n2"))] = "n2"
		},
		want: "node n2 was removed, but its pub_key is still indexed for it",
	}, {
		name: "removed, still in the node ids",
		corrupt: func(s *State) {
			if res := deliver(t, s, "ops", removeNodeTx("n2", true)); res.Code != 0 {
				t.Fatalf("remove: %s", res.Log)
			}
			s.nodeIDs = insertSorted(s.nodeIDs, "n2")
		},
		want: "node n2 was removed, but the node ids still list it",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := checkedState(t, newRecordStore(t))
			c.corrupt(s)
			got := endBlockPanic(s)
			if !strings.Contains(got, c.want) {
				t.Errorf("EndBlock panicked with %q; want %q", got, c.want)
			}
		})
	}
}
