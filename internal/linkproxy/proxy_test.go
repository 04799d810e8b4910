package linkproxy

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// echoServer answers each line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line on c and waits at most within for its echo.
func roundTrip(c net.Conn, r *bufio.Reader, within time.Duration) (time.Duration, error) {
	start := time.Now()
	_ = c.SetDeadline(start.Add(within))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	if _, err := r.ReadString('\n'); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func TestProxyCutsHealsAndSlows(t *testing.T) {
	p, err := New("127.0.0.1:0", echoServer(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := roundTrip(c, r, 2*time.Second); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}

	// A black hole: the bytes go nowhere, nothing is refused.
	p.Cut(Blackhole)
	if _, err := roundTrip(c, r, 300*time.Millisecond); err == nil {
		t.Fatal("an echo came through a cut link")
	}
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("a new connection to a black hole is refused (%v); want it held", err)
	}
	defer c2.Close()
	r2 := bufio.NewReader(c2)
	if _, err := roundTrip(c2, r2, 300*time.Millisecond); err == nil {
		t.Fatal("a new connection got an echo through a cut link")
	}

	// Healed: what was held arrives, and new lines go through.
	p.Heal()
	_ = c2.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := r2.ReadString('\n'); err != nil {
		t.Fatalf("the line held by the cut, after Heal: %v", err)
	}
	if _, err := roundTrip(c2, r2, 2*time.Second); err != nil {
		t.Fatalf("after Heal: %v", err)
	}

	// Slow: each way is delayed.
	p.Slow(100*time.Millisecond, 0)
	d, err := roundTrip(c2, r2, 2*time.Second)
	if err != nil || d < 200*time.Millisecond {
		t.Fatalf("100ms each way: round trip %s, %v; want at least 200ms", d, err)
	}
	p.Slow(0, 0)

	// Reset: connections are closed, new ones too.
	p.Cut(Reset)
	_ = c2.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := r2.ReadString('\n'); err == nil {
		t.Fatal("a connection survived a reset")
	}
	c3, err := net.Dial("tcp", p.Addr())
	if err == nil {
		_ = c3.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := bufio.NewReader(c3).ReadString('\n'); err == nil {
			t.Fatal("a new connection through a reset link was served")
		}
		c3.Close()
	}
	p.Heal()
	c4, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	if _, err := roundTrip(c4, bufio.NewReader(c4), 2*time.Second); err != nil {
		t.Fatalf("after healing a reset: %v", err)
	}
}

func TestProxyCloseEndsHeldConnections(t *testing.T) {
	p, err := New("127.0.0.1:0", echoServer(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	p.Cut(Blackhole)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while a connection was held by a cut")
	}
}
