// Package fleet simulates many worker nodes in one process, against a
// real chain (`phalanxd fleet`, docs/fleet.md).
//
// Each simulated node has its own key (derived from a seed: KeyOf), its
// own id (NodeID) and its own endpoint (EndpointOf: 127.A.B.C on the
// fleet's one listener). The fleet registers the nodes itself (open
// registration, paced by params.max_self_registrations_per_block and by
// Config.MaxUnattested), or adopts those registered by an earlier run with
// the same seed. Like the agent (agent/heartbeat.go) it heartbeats a node
// only while no observer quorum attests it (ADR 0018) or a change is
// pending: a task the chain placed on it whose Running the chain does not
// show. It answers the observers' probes for every alive node; it crashes
// Config.CrashFraction of the nodes at seeded times (a crashed node
// neither heartbeats nor answers) and revives each after its Down verdict.
//
// What it reads is not proven: one paged read of the node list per
// heartbeat interval (where a real agent proves its own record), and the
// chain's node_status events. A simulator measures the chain; it does not
// defend against it.
//
// Run returns a Summary: false Suspect and Down verdicts of nodes it kept
// alive, detection times of the nodes it crashed, and the transactions it
// caused.
package fleet
