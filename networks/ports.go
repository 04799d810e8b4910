package networks

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// Range FindFreeBasePort draws from: above common services and below
// Linux's ephemeral range (32768-60999), so the source port of some
// outgoing connection cannot take a port of a validator that has not
// bound it yet.
const (
	freeBaseMin   = 20000
	freeBaseMax   = 32700
	freeBaseTries = 200
)

// FindFreeBasePort returns a loopback base port whose ports for n
// validators (see PortsOf) are all free right now, trying random bases in
// 20000-32700. Tests use it to run networks side by side; the ports can
// still be taken before the network binds them, so callers that race
// with other programs should retry.
func FindFreeBasePort(n int) (int, error) {
	if n < 1 || n > MaxValidators {
		return 0, fmt.Errorf("%d validators: expected 1 to %d", n, MaxValidators)
	}
	span := PortStride * n
	for range freeBaseTries {
		base := freeBaseMin + rand.IntN(freeBaseMax-freeBaseMin-span)
		if portsFree(base, n) {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free base port for %d validators after %d tries in %d-%d", n, freeBaseTries, freeBaseMin, freeBaseMax)
}

func portsFree(base, n int) bool {
	for i := range n {
		p := PortsOf(base, i)
		for _, port := range []int{p.P2P, p.RPC, p.Prometheus} {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				return false
			}
			_ = l.Close()
		}
	}
	return true
}
