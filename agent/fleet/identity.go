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
// routes to loopback whole: 127.A.B.C with A from 1 (127.0.0.0/16 is left
// to the validators), C in 1..hostsPerSubnet (never .0 or .255) —
// 64,000 addresses per A, subnets enough for MaxNodes.
const (
	hostsPerSubnet = 250
	hostsPerA      = 256 * hostsPerSubnet
	maxA           = 1 + (MaxNodes-1)/hostsPerA
)

var _ [254 - maxA]struct{} // every index has an address below 127.255

// AddrOf is node index's loopback address.
func AddrOf(index int) net.IP {
	return net.IPv4(127, byte(1+index/hostsPerA), byte(index%hostsPerA/hostsPerSubnet), byte(1+index%hostsPerSubnet))
}

// EndpointOf is node index's endpoint on the listener's port.
func EndpointOf(index, port int) string {
	return net.JoinHostPort(AddrOf(index).String(), strconv.Itoa(port))
}

// IndexOf is the node index whose address ip is, or false.
func IndexOf(ip net.IP) (int, bool) {
	v4 := ip.To4()
	if v4 == nil || v4[0] != 127 || v4[1] < 1 || int(v4[1]) > maxA || v4[3] < 1 || v4[3] > hostsPerSubnet {
		return 0, false
	}
	i := (int(v4[1])-1)*hostsPerA + int(v4[2])*hostsPerSubnet + int(v4[3]) - 1
	if i >= MaxNodes {
		return 0, false
	}
	return i, true
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
