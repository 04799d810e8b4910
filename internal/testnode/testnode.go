// Package testnode starts one real validator in the test's process (a
// phalanxd home made by node.Init, CometBFT and the app via node.New),
// with 200 ms blocks and RPC and P2P on OS-chosen loopback ports, for
// tests that need a real chain without a separate process.
package testnode

import (
	"net"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/libs/log"

	"github.com/phalanx-bft/phalanx/config"
	"github.com/phalanx-bft/phalanx/node"
)

// Start initialises home for chainID and starts its validator. It returns
// the RPC address (tcp://127.0.0.1:PORT) and the function that stops it.
func Start(home, chainID string) (rpc string, stop func() error, err error) {
	if _, err := node.Init(node.InitOptions{Home: home, ChainID: chainID, Moniker: "v0"}); err != nil {
		return "", nil, err
	}
	cfg, err := config.Load(home)
	if err != nil {
		return "", nil, err
	}
	rpcAddr, err := loopbackAddr()
	if err != nil {
		return "", nil, err
	}
	p2pAddr, err := loopbackAddr()
	if err != nil {
		return "", nil, err
	}
	c := cfg.Comet
	c.RPC.ListenAddress = "tcp://" + rpcAddr
	c.P2P.ListenAddress = "tcp://" + p2pAddr
	c.Instrumentation.Prometheus = false
	c.Consensus.TimeoutCommit = 200 * time.Millisecond
	c.Consensus.TimeoutPropose = 300 * time.Millisecond
	cmtcfg.WriteConfigFile(config.CometFile(home), c)
	s, err := node.New(home, log.NewNopLogger())
	if err != nil {
		return "", nil, err
	}
	if err := s.Start(); err != nil {
		return "", nil, err
	}
	return c.RPC.ListenAddress, s.Stop, nil
}

// loopbackAddr is a free 127.0.0.1 port chosen by the OS.
func loopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
