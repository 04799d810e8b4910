// Package scheduler decides where tasks run. It is pure: it reads the
// cluster through the narrow Cluster interface and returns placements,
// with the same answer on every validator (DESIGN §6, §7).
//
// # Contract
//
// Place(cluster, blockHash, tasks, limit) examines tasks in the order given
// (the caller orders pending tasks: priority descending, created height,
// task id) and places each on the best node that can take it, at most
// limit placements per call. Each placement updates, for the rest of the
// call, the node's allocation and the workload's counts per node and per
// domain. It modifies nothing it reads; the caller applies the Result
// (allocates resources, sets task.node, bumps the generation). Result
// lists the placements, the examined tasks that fit nowhere with an
// Explanation ("0/12 nodes fit: 7 insufficient cpu, 5 node cordoned"),
// and how many tasks were examined: the rest wait for the next call.
//
// # Pipeline
//
// After Nomad's scheduler: feasibility checks filter, then a ranker picks.
//
//	node checks, in this order:
//	  readyChecker        node not ready | node draining | node cordoned
//	                                                   (once per call)
//	  constraintChecker   constraint not met          (once per workload
//	                                                   and call: its plan)
//	  spreadLabelChecker  missing spread label        (with spread_key; read
//	                                                   once per call and key)
//	      → the workload's slots: the nodes that passed, in id order
//	scan (once per task): slotSource → checkIterator → ranker
//	  maxPerNodeChecker   max_per_node reached        (max_per_node > 0)
//	  maxPerDomainChecker max_per_domain reached      (max_per_domain > 0)
//	  maxSkewChecker      max_skew exceeded           (max_skew > 0)
//	  resourcesChecker    insufficient cpu | insufficient memory
//
// Node checks see only what a call never changes, so they run once per
// workload (readyChecker, which reads no spec, once per call); slot checks
// see capacity and counts, which placements change.
// A filtered node counts under the first check it fails, so an
// Explanation's counts add up to the number of nodes. Only Ready nodes
// take new tasks: Suspect, Down, Partitioned and Quarantined nodes, and
// cordoned or draining ones, are filtered.
//
// # Spread
//
// A workload's spread_key names a label ("zone" reads the node's zone when
// it has no zone label); its values are the failure domains. Nodes without
// the label cannot run the workload. The counts are of the workload's
// tasks that hold resources (Cluster.TaskNodes), on any node, Ready or not.
//
//   - max_per_domain k: a domain holds at most k of the workload's tasks.
//   - max_skew s: a domain is eligible when at least one of its nodes passes
//     the workload's node checks (Ready, schedulable, constraints), whatever
//     its free capacity. A task may go to domain d only if
//     count(d) + 1 − min(count over eligible domains) ≤ s. So a placement
//     never makes max − min exceed s, and after failures have skewed the
//     counts, placements go where they reduce the skew. A domain with no
//     Ready node (a lost zone) is not eligible and holds nothing back; a
//     full but healthy one is, and holds placements elsewhere to the skew
//     (a hard constraint, like Kubernetes' DoNotSchedule).
//   - with a spread_key, the ranker prefers the domain holding the fewest
//     of the workload's tasks even without max_skew (a soft spread).
//
// # Ranking
//
// Among the nodes that pass every check, the best has, in order:
//
//  0. not the task's avoided node (TaskRequest.Avoid: the task used up its
//     restarts there), so that it goes back there only if nothing else
//     fits: a preference, not a filter;
//  1. with a spread_key, the fewest of the workload's tasks in its domain;
//  2. the highest score. Rank "binpack" (the default, and any rank other
//     than "spread") scores the node's use after the placement,
//     used·ScoreScale/capacity (integer division) summed over cpu and
//     memory: the fullest node wins. Rank "spread" scores 2·ScoreScale
//     minus that: the emptiest wins;
//  3. the smallest tie-break hash (TieBreakHash), from the block hash,
//     the task id and the node id: SHA-256 of (block hash, task id) once
//     per task, mixed with an FNV-1a hash of the node id by MurmurHash3's
//     64-bit finaliser. Deterministic, yet equally good nodes are chosen
//     evenly across tasks and blocks; hashing a tied node costs a few
//     nanoseconds, so a homogeneous fleet, where every node ties, scans
//     as fast as any.
//
// # Determinism
//
// No clocks, no randomness, no floats, no goroutines; maps are read by key
// only (workload plans, domain numbers), never iterated to decide. Nodes
// are used in id order: Place sorts a copy when c.Nodes() is not sorted.
// Same Cluster contents, block hash, tasks and limit → same Result.
//
// # The score index
//
// A workload without spread_key ranks the nodes that pass its checks by
// score alone (then the tie-break), and its score depends only on the
// node's allocation and the workload's request (cpu, memory). Place ranks
// such workloads without building their slots: the first two tasks of a
// request in a call pass over the Ready nodes (node checks run lazily,
// once per workload and node reached); from the third (IndexAfterTasks),
// in calls with at least IndexMinReady Ready nodes, a score index of the
// request, shared by every workload with that request, keeps the Ready
// nodes with room for it in buckets by their use after the placement
// (0..2·ScoreScale). A task walks the buckets from the best (the fullest
// for bin-packing, the emptiest for rank "spread") and stops after the
// first bucket that holds a node it can take; the tie-break hash, then
// the id, chooses within that bucket, so the order inside a bucket decides
// nothing. Each placement moves its node in every index of the call; a
// node found without room leaves the index (allocations only grow within
// a call). When a task fits nowhere, its workload's slots are built and
// scanned as above: the explanation comes from the scan. The decisions are
// those of the scan: TestPlaceMatchesReference compares Place with the
// algorithm before the index, kept in reference_test.go.
//
// # Costs and limits
//
// With N nodes, C constraints and K tasks of a workload holding resources:
// a call costs O(N) to set up (O(N log N) if the nodes come unsorted);
// the first task of each workload in the call O(N·C) for the node checks
// (the spread label of each node is read once per call and key) plus O(K)
// to count (O(K log N) if the Cluster is no NodeIndexer); every task O(N)
// for its scan (the slots), plus
// O(domains) after a placement with spread_key, plus one SHA-256. Without
// spread_key: the first two tasks of a request O(N) each (the pass), the
// third O(N) to build the index, then each task O(nodes in the buckets
// above its best, and in its best bucket) for the walk, O(1) amortised
// for nodes without room; O(indexes) per placement. A task
// of a workload that already fitted nowhere in the call costs O(1):
// capacity only shrinks within a call, so
// it fits nowhere either, for the same reasons. A call scans for at most
// limit × ScansPerPlacement tasks, and MaxNodes, MaxTasksPerCall and
// MaxPlacementsPerCall bound its inputs (Place panics beyond them: the
// caller's own limits must be lower).
package scheduler
