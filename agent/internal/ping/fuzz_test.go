package ping

import (
	"bytes"
	"errors"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
)

// FuzzPing feeds bytes to ParsePing and ParsePong, the parsers of every
// datagram an agent or an observer receives. Checks: no panic; a refusal
// is ErrNotPhalanx or ErrMalformed; an accepted datagram has no trailing
// bytes, is at most MaxPacket, names a node id of at most
// api.MaxNodeIDLen bytes, and parse → Append → parse gives the same
// message (a ping's encoding is the datagram itself; a pong's too but
// for the flag bits other than "ok", which are ignored).
func FuzzPing(f *testing.F) {
	f.Add(AppendPing(nil, Ping{Nonce: 0x0102030405060708, NodeID: "n1"}))
	f.Add(AppendPong(nil, Pong{Nonce: 42, NodeID: "node-7.zone-a", OK: true, Failing: 3}))
	f.Add(AppendPong(nil, Pong{Nonce: 1, NodeID: ""}))
	f.Add(append(AppendPing(nil, Ping{Nonce: 9, NodeID: "n1"}), 'x'))
	f.Add([]byte("PHXP\x02\x01"))
	f.Add([]byte("PHXP\x01\x01\x00\x00\x00\x00\x00\x00\x00\x01\x05n1"))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error, id string, size int) bool {
			t.Helper()
			if err != nil {
				if !errors.Is(err, ErrNotPhalanx) && !errors.Is(err, ErrMalformed) {
					t.Fatalf("refusal %v is neither ErrNotPhalanx nor ErrMalformed", err)
				}
				return false
			}
			if len(id) > api.MaxNodeIDLen || len(b) != size+len(id) || len(b) > MaxPacket {
				t.Fatalf("accepted %d bytes with a node id of %d (header %d, MaxPacket %d)", len(b), len(id), size, MaxPacket)
			}
			return true
		}
		p, err := ParsePing(b)
		if check(err, p.NodeID, pingHeader) {
			enc := AppendPing(nil, p)
			if !bytes.Equal(enc, b) {
				t.Fatalf("ping %+v re-encodes as %x, not %x", p, enc, b)
			}
			if p2, err := ParsePing(enc); err != nil || p2 != p {
				t.Fatalf("ping %+v round trip: %+v %v", p, p2, err)
			}
			if _, err := ParsePong(b); err == nil {
				t.Fatal("a datagram parses as both ping and pong")
			}
		}
		q, err := ParsePong(b)
		if check(err, q.NodeID, pongHeader) {
			enc := AppendPong(nil, q)
			if len(enc) != len(b) || !bytes.Equal(enc[:14], b[:14]) || !bytes.Equal(enc[15:], b[15:]) || enc[14] != b[14]&1 {
				t.Fatalf("pong %+v re-encodes as %x, not %x", q, enc, b)
			}
			if q2, err := ParsePong(enc); err != nil || q2 != q {
				t.Fatalf("pong %+v round trip: %+v %v", q, q2, err)
			}
		}
	})
}
