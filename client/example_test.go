package client_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/types"
)

// BuildTx signs a message for a chain and sequence; the node checks it with
// api.DecodeTx. Against a node, SignAndBroadcast does all of this (chain
// id, sequence, broadcast, wait):
//
//	c, _ := client.New("tcp://127.0.0.1:26657")
//	res, err := c.SignAndBroadcast(ctx, priv, &types.CordonNode{NodeId: "n7"}, client.TxOptions{})
func ExampleBuildTx() {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	raw, err := client.BuildTx("demo-1", 4, 0, "maintenance", &types.CordonNode{NodeId: "n7", Reason: "disk"}, priv)
	if err != nil {
		panic(err)
	}
	tx, err := api.DecodeTx(raw, "demo-1")
	if err != nil {
		panic(err)
	}
	fmt.Printf("signer %X… sequence %d cordons %s\n", tx.Address[:4], tx.Body.Sequence, tx.Body.GetCordonNode().NodeId)
	// Output: signer FE812C12… sequence 4 cordons n7
}
