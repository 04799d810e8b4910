package api

import (
	"crypto/sha256"
	"encoding/binary"
)

// EventData is an event as EventsDigest reads it: its type and its
// attributes in order.
type EventData struct {
	Type       string
	Attributes []EventAttr
}

// EventAttr is one attribute of an EventData.
type EventAttr struct{ Key, Value string }

// EventsDigest is the SHA-256 digest of events in order: each event's
// type, its attribute count and each key and value, every string and
// count length-prefixed (uvarint), so that no two different lists share
// an encoding. The chain puts it where a header covers it
// (docs/adr/0016-trust.md): in each transaction result's data (the next
// header's last_results_hash) and, for the events of a block's begin and
// end passes, in the block info record (the next header's app hash).
func EventsDigest(events []EventData) []byte {
	h := sha256.New()
	var buf [binary.MaxVarintLen64]byte
	putUint := func(n int) { h.Write(buf[:binary.PutUvarint(buf[:], uint64(n))]) }
	putString := func(s string) { putUint(len(s)); h.Write([]byte(s)) }
	putUint(len(events))
	for _, e := range events {
		putString(e.Type)
		putUint(len(e.Attributes))
		for _, a := range e.Attributes {
			putString(a.Key)
			putString(a.Value)
		}
	}
	return h.Sum(nil)
}
