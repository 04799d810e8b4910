// Package health holds the arithmetic and data structures of failure
// detection (DESIGN §5): the heartbeat inter-arrival ring (ring.go), the
// phi accrual detector in integer arithmetic (phi.go: the threshold y*(Φ)
// from integer series, the per-node deadline computed in integer
// microseconds and rounded up to whole ms) and DeadlineQueue (queue.go), the
// heap behind the deadline index the end-of-block pass pops (app/ also
// keeps Failed tasks' restart backoff in one). The node lifecycle built on
// these (detector.go) and the cross-validation of observer reports
// (reports.go) live in app/, next to the accounts and nodes they change.
//
// It is pure and deterministic like app/: time comes in as an argument; no
// clocks, no randomness, no floats deciding a transition. The one float
// function, Detector.Phi (display.go), serves queries only.
package health
