// Package networks generates Phalanx test networks and supervises them as
// local processes: the library behind `phalanxd testnet init|start|stop|
// kill|status` and `make localnet`, also called in-process by tests.
//
// # Generation
//
// InitTestnet writes, into one directory DIR:
//
//   - DIR/val0 … DIR/val{N-1}: a validator home each (node.DefaultCometConfig
//     and node.InitFiles: CometBFT config, validator and node keys,
//     app.toml), with persistent_peers naming every other validator;
//   - one genesis (node.WriteGenesis), byte-identical in every home, whose
//     app state grants admin, operator and observer to the key "admin" and
//     observer to one key "observerI" per validator;
//   - those keys in the unencrypted test keyring DIR/keyring-test, which the
//     CLI reaches with --keyring-backend test --home DIR;
//   - DIR/testnet.json, the Manifest, written last: chain id, admin
//     address, and each validator's home, node id, RPC, p2p, Prometheus
//     and observer addresses.
//
// A loopback network (the default) puts every validator on 127.0.0.1 with
// its own ports: validator i listens on base+10i (p2p), base+10i+1 (RPC)
// and base+10i+2 (Prometheus), see PortsOf. A multi-host network (host
// names or a starting IP, one per validator) uses CometBFT's standard ports
// on every host and peers by host name; its homes are copied to their
// hosts and started there. docs/networks.md describes both.
//
// # Processes
//
// Start runs each selected validator of a loopback network as its own OS
// process, `phalanxd start --home DIR/valI`, in its own session (Setsid),
// so it outlives the caller; output goes to DIR/valI/node.log and the pid
// to DIR/valI/phalanxd.pid. Start returns once every started validator has
// committed StartOptions.WaitHeight and is not catching up, polling RPC
// against a deadline. It refuses validators that already run (a live
// process in the pid file) and ports that are taken.
//
// Stop and Kill work from the pid files alone, so a network started by
// another process (`testnet start --detach`) can be stopped: SIGTERM, a
// bounded wait, then SIGKILL (Kill: SIGKILL at once, a crash). On Linux a
// pid counts as the validator only if /proc shows `… start --home HOME`
// and the process is not a zombie, so a recycled pid is never signalled.
// Network.Supervise is the foreground mode: it reports processes that
// exit and stops the started validators when its context ends.
//
// Status asks each validator's RPC (/status, /net_info, /header) with a
// short timeout and compares the app hash the up validators hold for
// their common height.
package networks
