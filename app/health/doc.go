// Package health holds failure detection: the heartbeat inter-arrival
// history and (in a later version) the phi accrual detector in integer
// arithmetic and the cross-validation of observer reports (DESIGN §5).
//
// It is pure and deterministic like app/: block time comes in as an
// argument; no clocks, no randomness, no floats deciding a transition.
package health
