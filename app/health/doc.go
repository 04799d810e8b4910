// Package health holds failure detection (DESIGN §5): the heartbeat
// inter-arrival ring (ring.go), the phi accrual detector in integer
// arithmetic (phi.go: the threshold y*(Φ) from integer series, the per-node
// deadline in integer microseconds) and the deadline index the end-of-block
// pass pops (queue.go). The cross-validation of observer reports lives in
// app/ (reports.go), next to the accounts and nodes it changes.
//
// It is pure and deterministic like app/: time comes in as an argument; no
// clocks, no randomness, no floats deciding a transition. The one float
// function, Detector.Phi (display.go), serves queries only.
package health
