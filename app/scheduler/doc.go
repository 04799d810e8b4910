// Package scheduler decides where tasks run. It is pure: it reads nodes and
// a request and returns a choice, with the same answer on every validator.
//
// Placement is a pipeline (after Nomad's scheduler): feasibility checks
// filter the candidate nodes, each filtered node recording a constant
// reason string (what a user reads when a task stays pending); the first
// feasible node in the caller's order wins. Scoring (bin-pack or spread)
// and the block-hash tie-break of DESIGN §6 come in a later version; the
// shape (Check per node, Filtered reasons) stays.
//
// Determinism: no clocks, no randomness, no floats; maps are only read by
// key or after sorting.
package scheduler
