package app

import (
	"fmt"
	"strings"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// testState is a genesis state with an admin and an operator, inside an
// open block at height 1.
func testState(t *testing.T) *State {
	t.Helper()
	g := &api.Genesis{Params: api.DefaultParams(), Accounts: []types.GenesisAccount{
		{Address: testAddr("admin"), Roles: []types.Role{types.ROLE_ADMIN}},
		{Address: testAddr("ops"), Roles: []types.Role{types.ROLE_OPERATOR}},
	}}
	s, err := NewState(testChainID, g)
	if err != nil {
		t.Fatal(err)
	}
	s.TakeChanges()
	s.BeginBlock(Block{Height: 1, TimeMs: 1000}, nil)
	return s
}

func deliver(t *testing.T, s *State, signer string, body *types.TxBody) Result {
	t.Helper()
	body.ChainId = testChainID
	body.Sequence = s.NextSequence(testAddr(signer))
	tx, err := api.DecodeTx(encodeTx(testKey(signer), body), testChainID)
	if err != nil {
		t.Fatalf("DecodeTx: %v", err)
	}
	return s.DeliverTx(tx)
}

func createWorkload(name string, replicas uint32) *types.TxBody {
	return &types.TxBody{Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: types.WorkloadSpec{
		Name: name, Command: "run", Replicas: replicas, Resources: types.Resources{CpuMillis: 1, MemoryMb: 1}}}}}
}

func changedKeys(s *State) string {
	var keys []string
	for _, kv := range s.TakeChanges() {
		keys = append(keys, string(kv.Key))
	}
	return strings.Join(keys, " ")
}

func TestAnteFailureChangesNothing(t *testing.T) {
	s := testState(t)
	body := createWorkload("web", 1)
	body.ChainId = testChainID
	body.Sequence = 5 // skips ahead
	tx, err := api.DecodeTx(encodeTx(testKey("ops"), body), testChainID)
	if err != nil {
		t.Fatal(err)
	}
	if res := s.DeliverTx(tx); res.Code != api.ErrSequenceSkipped.Code {
		t.Fatalf("code %d (%s); want %d", res.Code, res.Log, api.ErrSequenceSkipped.Code)
	}
	if got := changedKeys(s); got != "" {
		t.Errorf("an ante failure changed %s", got)
	}
}

func TestFailedMessageConsumesSequenceOnly(t *testing.T) {
	s := testState(t)
	res := deliver(t, s, "ops", &types.TxBody{Msg: &types.TxBody_DrainNode{DrainNode: &types.DrainNode{NodeId: "n1"}}})
	if res.Code != api.ErrNodeNotFound.Code {
		t.Fatalf("code %d (%s); want %d", res.Code, res.Log, api.ErrNodeNotFound.Code)
	}
	if got, want := changedKeys(s), "accounts/"+addrHex(testAddr("ops")); got != want {
		t.Errorf("changed %q; want only %q", got, want)
	}
	if got := s.NextSequence(testAddr("ops")); got != 1 {
		t.Errorf("sequence %d after a failed message; want 1", got)
	}
}

func TestLimitTasksTotal(t *testing.T) {
	s := testState(t)
	for i := 0; i < api.MaxTasksTotal/api.MaxReplicasPerWorkload; i++ {
		if res := deliver(t, s, "ops", createWorkload(fmt.Sprintf("w%d", i), api.MaxReplicasPerWorkload)); res.Code != 0 {
			t.Fatalf("workload %d: %s", i, res.Log)
		}
	}
	res := deliver(t, s, "ops", createWorkload("one-more", 1))
	if res.Code != api.ErrLimitExceeded.Code || !strings.Contains(res.Log, fmt.Sprintf("the limit is %d", api.MaxTasksTotal)) {
		t.Fatalf("code %d (%s); want %d naming the limit", res.Code, res.Log, api.ErrLimitExceeded.Code)
	}
	// Scaling up is bounded the same way; scaling down is not.
	up := createWorkload("w0", api.MaxReplicasPerWorkload)
	up.Msg = &types.TxBody_UpdateWorkload{UpdateWorkload: &types.UpdateWorkload{Spec: up.GetCreateWorkload().Spec}}
	up.GetUpdateWorkload().Spec.Replicas = 0
	if res := deliver(t, s, "ops", up); res.Code != 0 {
		t.Fatalf("scale down: %s", res.Log)
	}
	if res := deliver(t, s, "ops", createWorkload("one-more", 1)); res.Code != 0 {
		t.Fatalf("after scaling down: %s", res.Log)
	}
}

func TestDecodeLimits(t *testing.T) {
	hb := &types.Heartbeat{NodeId: "n1", Seq: 1}
	for i := 0; i <= api.MaxTasksPerHeartbeat; i++ {
		hb.Tasks = append(hb.Tasks, types.TaskReport{TaskId: fmt.Sprintf("w/%d", i), Generation: 1, State: types.TASK_RUNNING})
	}
	cases := map[string]*types.TxBody{
		"tasks per heartbeat": {Msg: &types.TxBody_Heartbeat{Heartbeat: hb}},
		"checkpoint": {Msg: &types.TxBody_Heartbeat{Heartbeat: &types.Heartbeat{NodeId: "n1", Seq: 1, Tasks: []types.TaskReport{
			{TaskId: "w/0", Generation: 1, State: types.TASK_RUNNING, Checkpoint: make([]byte, api.MaxCheckpointBytes+1)}}}}},
		"labels": {Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{NodeId: "n1", PubKey: testPub("n1"), Zone: "a",
			Capacity: types.Resources{CpuMillis: 1, MemoryMb: 1}, Labels: manyLabels(api.MaxLabelsPerNode + 1)}}},
		"memo":    {Memo: strings.Repeat("m", api.MaxMemoBytes+1), Msg: createWorkload("w", 1).Msg},
		"args":    {Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: types.WorkloadSpec{Name: "w", Command: "x", Args: make([]string, api.MaxArgs+1), Resources: types.Resources{CpuMillis: 1, MemoryMb: 1}}}}},
		"address": {Msg: &types.TxBody_GrantRole{GrantRole: &types.GrantRole{Address: []byte{1, 2}, Role: types.ROLE_ADMIN}}},
		"role":    {Msg: &types.TxBody_GrantRole{GrantRole: &types.GrantRole{Address: testAddr("x"), Role: 9}}},
	}
	for name, body := range cases {
		body.ChainId = testChainID
		_, err := api.DecodeTx(encodeTx(testKey("ops"), body), testChainID)
		if api.CodeOf(err) != api.ErrInvalidMessage.Code {
			t.Errorf("%s: DecodeTx = %v; want an invalid-message error", name, err)
		}
	}
}

func manyLabels(n int) []types.Label {
	var out []types.Label
	for i := 0; i < n; i++ {
		out = append(out, types.Label{Key: fmt.Sprintf("k%03d", i), Value: "v"})
	}
	return out
}

func TestCallOrderIsEnforced(t *testing.T) {
	s, _ := NewState(testChainID, nil)
	mustPanic(t, "EndBlock outside a block", func() { s.EndBlock() })
	mustPanic(t, "DeliverTx outside a block", func() { s.DeliverTx(&api.Tx{}) })
	s.BeginBlock(Block{Height: 1}, nil)
	mustPanic(t, "BeginBlock twice", func() { s.BeginBlock(Block{Height: 2}, nil) })
	s.EndBlock()
	mustPanic(t, "BeginBlock at the same height", func() { s.BeginBlock(Block{Height: 1}, nil) })
	if s.Height() != 1 {
		t.Errorf("Height() = %d; want 1", s.Height())
	}
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}
