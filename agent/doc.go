// Package agent is the worker agent: it runs one node of a Phalanx
// cluster. It registers the node (self-signed under open registration, or
// adopts a node an operator registered with its key), heartbeats every
// params.heartbeat_interval_ms, follows the placements the chain makes on
// its node and runs each as an OS process, and serves its tasks' health to
// observers (GET /healthz, /tasks, /tasks/{workload}/{index}).
//
// # Contract
//
// A placement is (task id, node, generation). The agent runs exactly the
// placements whose chain record names its node, in state Assigned or
// Running, at that generation:
//
//   - Fencing. A process of any other generation of the task, or of a task
//     no longer placed on the node, is stopped — SIGTERM to its process
//     group, SIGKILL after the grace period, and the group gone — before
//     the new generation starts. Two live processes of one task id never
//     run on one agent (Runner serialises the operations of a task id).
//   - At most once. A placement is started at most once per agent home:
//     the state file records it before the process starts, and an exit is
//     reported (Failed with its exit code, or Completed), never restarted.
//     Restarting is the chain's decision: a new generation.
//   - Heartbeat seqs are never reused: they are reserved on disk before use
//     and resume above the chain's last accepted seq, so a lost or repeated
//     submission, or a restart, never signs two different heartbeats with
//     one seq (that is equivocation).
//   - Monotonic reads. A placement answer from a height below the last one
//     acted on (a validator behind the others) is ignored.
//   - Tasks die with the agent: each task's first process gets Pdeathsig
//     SIGKILL (Linux; forked from one OS-locked thread, because Pdeathsig
//     follows the forking thread), and the reaper process kills the task's
//     whole process group when the agent's pipe to it closes.
//
// Checkpoints: a task writes its checkpoint (at most api.MaxCheckpointBytes)
// to $PHALANX_CHECKPOINT_FILE; the agent reports it when it differs from
// the chain's; the next generation finds the chain's last checkpoint in
// the file $PHALANX_CHECKPOINT_IN.
//
// The agent talks to validators through a pool (internal/rpcpool): the
// first answering RPC address is used until it stops answering; while none
// answers, requests back off exponentially up to Config.MaxBackoff and the
// tasks keep running. Package observer holds the validators' probe loop.
package agent
