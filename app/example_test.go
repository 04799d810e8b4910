package app_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/app"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// The flow a caller (abci/) drives: genesis, then per block BeginBlock,
// DeliverTx for each transaction, EndBlock, and TakeChanges to persist.
func Example() {
	seed := sha256.Sum256([]byte("example operator"))
	operator := ed25519.NewKeyFromSeed(seed[:])
	opPub := operator.Public().(ed25519.PublicKey)
	nodeSeed := sha256.Sum256([]byte("example node"))
	nodePub := ed25519.NewKeyFromSeed(nodeSeed[:]).Public().(ed25519.PublicKey)

	// Genesis: default params and one operator account.
	genesis, err := api.ParseGenesis([]byte(fmt.Sprintf(
		`{"accounts": [{"address": %q, "roles": ["operator"]}]}`, crypto.AddressHex(opPub))))
	if err != nil {
		panic(err)
	}
	state, err := app.NewState("example-chain", genesis)
	if err != nil {
		panic(err)
	}
	fmt.Println("genesis records:", len(state.TakeChanges()))

	// A client signs a transaction.
	sign := func(body *types.TxBody) []byte {
		body.ChainId = "example-chain"
		body.Sequence = state.NextSequence(crypto.Address(opPub))
		bodyBytes, _ := body.Marshal()
		raw, _ := (&types.Tx{BodyBytes: bodyBytes, PubKey: opPub, Signature: crypto.Sign(operator, bodyBytes)}).Marshal()
		return raw
	}

	// Block 1.
	state.BeginBlock(app.Block{Height: 1, TimeMs: 1_700_000_000_000, Hash: []byte("h1")}, nil)
	for _, body := range []*types.TxBody{
		{Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
			NodeId: "n1", PubKey: nodePub, Zone: "a", Capacity: types.Resources{CpuMillis: 4000, MemoryMb: 8192}}}},
		{Msg: &types.TxBody_CreateWorkload{CreateWorkload: &types.CreateWorkload{Spec: types.WorkloadSpec{
			Name: "web", Command: "sleep", Args: []string{"3600"}, Replicas: 2,
			Resources: types.Resources{CpuMillis: 1000, MemoryMb: 512}}}}},
	} {
		tx, err := api.DecodeTx(sign(body), "example-chain")
		if err != nil {
			panic(err)
		}
		res := state.DeliverTx(tx)
		fmt.Printf("code %d: %s\n", res.Code, res.Log)
	}
	end := state.EndBlock()
	for _, e := range end.Events {
		fmt.Println(e.Type, e.Attributes)
	}
	for _, kv := range state.TakeChanges() {
		fmt.Println("persist", string(kv.Key)[:min(len(kv.Key), 14)])
	}

	// Output:
	// genesis records: 2
	// code 0: node n1 registered
	// code 0: workload web created with 2 tasks
	// task_placed [{task web/0} {node n1} {generation 1}]
	// task_placed [{task web/1} {node n1} {generation 1}]
	// persist accounts/7E6E8
	// persist accounts/B5293
	// persist blockinfo
	// persist nodes/n1
	// persist tasks/web/0
	// persist tasks/web/1
	// persist workloads/web
}
