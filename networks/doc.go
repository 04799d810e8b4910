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
//     app state grants admin and operator to the key "admin" and observer
//     to one key "observerI" per validator;
//   - those keys in the unencrypted test keyring DIR/keyring-test, which the
//     CLI reaches with --keyring-backend test --home DIR;
//   - with InitOptions.Agents K (loopback only), DIR/agent0 …
//     DIR/agent{K-1}: a worker agent's home each, with its node key, and
//     open registration in genesis (agents.go);
//   - DIR/testnet.json, the Manifest, written last: chain id, admin
//     address, each validator's home, node id, RPC, p2p, Prometheus and
//     observer addresses, and the agents.
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
// A loopback network's processes (Manifest.Processes, members.go) are its
// validators, `phalanxd start --home DIR/valI`, and, in a network with
// agents, one observer per validator ("observerI": `phalanxd observer`
// with that validator's observer key, through its RPC) and the agents
// ("agentI": `phalanxd agent --home DIR/agentI …`). Start runs each
// selected one as its own OS process in its own session (Setsid), so it
// outlives the caller, with its output appended to its log and its pid in
// its pid file (Process.LogFile, Process.PIDFile). It starts the
// validators first and waits until each has committed
// StartOptions.WaitHeight and is not catching up; then the observers and
// agents, and waits until every agent's /healthz shows it connected with
// a heartbeat committed; all by polling against a deadline. It refuses
// processes that already run (a live process in the pid file) and ports
// that are taken. CreateWorkload then gives the agents work.
//
// Stop and Kill work from the pid files alone, so a network started by
// another process (`testnet start --detach`) can be stopped: SIGTERM, a
// bounded wait, then SIGKILL (Kill: SIGKILL at once, a crash); Stop goes
// agents, observers, validators. On Linux a pid counts as the process
// only if /proc shows its subcommand, --home and --key and it is not a
// zombie, so a recycled pid is never signalled. Network.Supervise is the
// foreground mode: it reports processes that exit and stops the started
// ones when its context ends.
//
// Status asks each validator's RPC (/status, /net_info, /header) with a
// short timeout and compares the app hash the up validators hold for
// their common height; in a network with agents it adds each observer's
// process and last report window and each agent's /healthz and node
// state.
package networks
