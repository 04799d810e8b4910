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

// FindFreeBasePort returns a loopback base port whose ports for a
// network of n validators and k agents are all free right now: the
// validators' (see PortsOf) and the agents' endpoints (AgentPort). It
// tries random bases in 20000-32700. Tests use it to run networks side by
// side; the ports can still be taken before the network binds them, so
// callers that race with other programs should retry.
func FindFreeBasePort(n, k int) (int, error) {
	if n < 1 || n > MaxValidators {
		return 0, fmt.Errorf("%d validators: expected 1 to %d", n, MaxValidators)
	}
	if k < 0 || k > MaxAgents {
		return 0, fmt.Errorf("%d agents: expected 0 to %d", k, MaxAgents)
	}
	span := PortStride*n + k
	for range freeBaseTries {
		base := freeBaseMin + rand.IntN(freeBaseMax-freeBaseMin-span)
		if portsFree(base, n, k) {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free base port for %d validators and %d agents after %d tries in %d-%d", n, k, freeBaseTries, freeBaseMin, freeBaseMax)
}

func portsFree(base, n, k int) bool {
	var ports []int
	for i := range n {
		p := PortsOf(base, i)
		ports = append(ports, p.P2P, p.RPC, p.Prometheus)
	}
	for i := range k {
		ports = append(ports, AgentPort(base, n, i))
	}
	for _, port := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return false
		}
		_ = l.Close()
	}
	return true
}
