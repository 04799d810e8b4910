package networks_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/phalanx-bft/phalanx/networks"
)

// A 4-validator loopback network with 200ms blocks. Start, Status and Stop
// then run it (they need the phalanxd binary; see networks/process_test.go).
func ExampleInitTestnet() {
	dir, err := os.MkdirTemp("", "phalanx-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	m, err := networks.InitTestnet(networks.InitOptions{
		Dir:        filepath.Join(dir, "net"),
		ChainID:    "example-1",
		Validators: 4,
		BasePort:   36600,
		BlockTime:  200 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(m.ChainID, m.Mode, m.BlockTime)
	for _, v := range m.Validators {
		fmt.Println(v.Name, v.RPC, v.Prometheus, v.Observer)
	}
	// Output:
	// example-1 loopback 200ms
	// val0 tcp://127.0.0.1:36601 127.0.0.1:36602 observer0
	// val1 tcp://127.0.0.1:36611 127.0.0.1:36612 observer1
	// val2 tcp://127.0.0.1:36621 127.0.0.1:36622 observer2
	// val3 tcp://127.0.0.1:36631 127.0.0.1:36632 observer3
}
