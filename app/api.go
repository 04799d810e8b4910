package app

import "github.com/phalanx-bft/phalanx/api"

// This file holds the types of the contract between app/ and its caller
// (abci/): what a block brings in and what the state machine hands back.
// The types clients use (views, errors, limits, the decoded Tx) are in
// package api.

// Block carries what the caller knows of the block being applied. Time is
// the header's block time in Unix milliseconds; it is the only clock.
type Block struct {
	Height int64
	TimeMs int64
	Hash   []byte
}

// Attribute is one key/value of an event.
type Attribute struct {
	Key   string
	Value string
}

// Event is emitted by a transaction or by the end-of-block pass.
// Types and attributes are those of DESIGN §8: node_status{node, from, to,
// reason}, task_placed{task, node, generation}, task_evicted{task, node,
// reason}, account_jailed{addr, reason}, workload{name, action}.
type Event struct {
	Type       string
	Attributes []Attribute
}

// EventsDigest is api.EventsDigest of events.
func EventsDigest(events []Event) []byte {
	data := make([]api.EventData, len(events))
	for i, e := range events {
		data[i].Type = e.Type
		data[i].Attributes = make([]api.EventAttr, len(e.Attributes))
		for j, a := range e.Attributes {
			data[i].Attributes[j] = api.EventAttr{Key: a.Key, Value: a.Value}
		}
	}
	return api.EventsDigest(data)
}

// Result is the outcome of one transaction. Code 0 is success.
type Result struct {
	Code   uint32
	Log    string
	Events []Event
}

// KV is one changed state record. A nil Value means the key was deleted.
type KV struct {
	Key   []byte
	Value []byte
}

// ValidatorUpdate sets a CometBFT validator's power (0 removes it).
type ValidatorUpdate struct {
	PubKey []byte // ed25519, 32 bytes
	Power  int64
}

// Misbehavior is CometBFT evidence against a validator, as FinalizeBlock
// delivers it.
type Misbehavior struct {
	Type             string // "duplicate_vote" or "light_client_attack"
	ValidatorAddress []byte
	Height           int64
}

// EndBlockResult is what the end-of-block pass hands back.
type EndBlockResult struct {
	Events           []Event
	ValidatorUpdates []ValidatorUpdate
}
