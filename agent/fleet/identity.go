package fleet

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"

	"github.com/phalanx-bft/phalanx/types"
)

// A simulated node's identity follows from the seed and its index alone,
// so nothing is stored: the same seed and prefix play the same nodes in a
// later run, which adopts them (their records carry these keys).

// keyDomain separates fleet keys from any other use of the seed.
const keyDomain = "phalanx-fleet-node-key/v1"

// KeyOf is node index's private key under seed: the ed25519 key whose
// seed is SHA-256(keyDomain, seed, index). Simulation keys: anyone who
// knows the seed holds them.
func KeyOf(seed uint64, index int) ed25519.PrivateKey {
	var b [len(keyDomain) + 16]byte
	copy(b[:], keyDomain)
	binary.BigEndian.PutUint64(b[len(keyDomain):], seed)
	binary.BigEndian.PutUint64(b[len(keyDomain)+8:], uint64(index))
	s := sha256.Sum256(b[:])
	return ed25519.NewKeyFromSeed(s[:])
}

// NodeID is node index's id: PREFIX-NNNNN.
func NodeID(prefix string, index int) string { return fmt.Sprintf("%s-%05d", prefix, index) }

// Node i's endpoint is an address of its own in 127.0.0.0/8, which Linux
// routes to loopback whole: 127.1.B.C with C in 1..hostsPerSubnet (never
// .0 or .255) — 64,000 addresses, more than MaxNodes.
const hostsPerSubnet = 250

var _ [256*hostsPerSubnet - MaxNodes]struct{} // every index has an address

// AddrOf is node index's loopback address.
func AddrOf(index int) net.IP {
	return net.IPv4(127, 1, byte(index/hostsPerSubnet), byte(1+index%hostsPerSubnet))
}

// EndpointOf is node index's endpoint on the listener's port.
func EndpointOf(index, port int) string {
	return net.JoinHostPort(AddrOf(index).String(), strconv.Itoa(port))
}

// IndexOf is the node index whose address ip is, or false.
func IndexOf(ip net.IP) (int, bool) {
	v4 := ip.To4()
	if v4 == nil || v4[0] != 127 || v4[1] != 1 || v4[3] < 1 || v4[3] > hostsPerSubnet {
		return 0, false
	}
	return int(v4[2])*hostsPerSubnet + int(v4[3]) - 1, true
}

// registerMsg is node index's self-registration.
func registerMsg(c Config, index int, key ed25519.PrivateKey, endpoint string) *types.RegisterNode {
	return &types.RegisterNode{
		NodeId:   NodeID(c.Prefix, index),
		PubKey:   append([]byte(nil), key.Public().(ed25519.PublicKey)...),
		Zone:     Zones[index%len(Zones)],
		Capacity: c.Capacity,
		Endpoint: endpoint,
	}
}
