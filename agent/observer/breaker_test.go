package observer

import (
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	b, err := NewBreaker(BreakerConfig{Failures: 3, Cooldown: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	steps := []struct {
		at        int
		wantAllow bool
		probeOK   bool
		wantAfter BreakerState
	}{
		{0, true, false, Closed},   // 1st failure
		{1, true, true, Closed},    // a success resets the count
		{2, true, false, Closed},   // 1
		{3, true, false, Closed},   // 2
		{4, true, false, Open},     // 3 in a row: open
		{5, false, false, Open},    // open: no probe
		{13, false, false, Open},   // still cooling down (opened at 4)
		{14, true, false, Open},    // half-open probe fails: open again from 14
		{20, false, false, Open},   // cooling down again
		{24, true, true, Closed},   // half-open probe succeeds: closed
		{25, true, false, Closed},  // one failure does not open it
		{26, true, false, Closed},  // two
		{27, true, false, Open},    // three
		{37, true, true, Closed},   // half-open, success
		{38, true, false, Closed},  // counts from zero again
		{39, true, true, Closed},   // reset
		{40, true, false, Closed},  // 1
		{40, true, false, Closed},  // 2
		{41, true, false, Open},    // 3
		{41, false, false, Open},   // open
		{50, false, false, Open},   // opened at 41: half-open from 51
		{51, true, true, Closed},   // half-open success
		{51, true, false, Closed},  // fresh count
		{60, true, false, Closed},  // 2
		{61, true, false, Open},    // 3
		{100, true, false, Open},   // long after: half-open, fails, open again
		{105, false, false, Open},  // cooling down from 100
		{110, true, true, Closed},  // half-open success
		{111, true, true, Closed},  // stays closed on success
		{112, true, true, Closed},  // and again
		{113, true, false, Closed}, // 1
	}
	for i, s := range steps {
		now := at(s.at)
		allowed := b.Allow(now)
		if allowed != s.wantAllow {
			t.Fatalf("step %d (t=%d): Allow = %v; expected %v (state %s)", i, s.at, allowed, s.wantAllow, b.State(now))
		}
		if allowed {
			b.Record(now, s.probeOK)
		}
		if got := b.State(now); got != s.wantAfter {
			t.Fatalf("step %d (t=%d): state %s; expected %s", i, s.at, got, s.wantAfter)
		}
	}
	if b.State(at(200)) != Closed {
		t.Fatal("a closed breaker does not change with time")
	}
}

func TestBreakerConfigValidate(t *testing.T) {
	for _, c := range []BreakerConfig{{0, time.Second}, {3, 0}, {MaxBreakerFailures + 1, time.Second}, {3, MaxBreakerCooldown + 1}} {
		if _, err := NewBreaker(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
