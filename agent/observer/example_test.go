package observer_test

import (
	"fmt"
	"time"

	"github.com/phalanx-bft/phalanx/agent/observer"
	"github.com/phalanx-bft/phalanx/types"
)

// A breaker opens after consecutive failures and lets one probe through
// once the cool-down has passed.
func ExampleBreaker() {
	b, _ := observer.NewBreaker(observer.BreakerConfig{Failures: 2, Cooldown: 10 * time.Second})
	t0 := time.Unix(0, 0)
	b.Record(t0, false)
	b.Record(t0.Add(time.Second), false)
	fmt.Println(b.State(t0.Add(2*time.Second)), b.Allow(t0.Add(2*time.Second)))
	fmt.Println(b.State(t0.Add(11*time.Second)), b.Allow(t0.Add(11*time.Second)))
	b.Record(t0.Add(11*time.Second), true)
	fmt.Println(b.State(t0.Add(12 * time.Second)))
	// Output:
	// open false
	// half-open true
	// closed
}

// BuildReport sorts one window's observations into the window's report.
func ExampleBuildReport() {
	r := observer.BuildReport(359175209, []types.Observation{
		{NodeId: "n2", Reachable: false},
		{NodeId: "n1", Reachable: true, RttMs: 3, FailingTaskIds: []string{"web/0"}},
	})
	for _, o := range r.Observations {
		fmt.Println(r.Window, o.NodeId, o.Reachable, o.FailingTaskIds)
	}
	// Output:
	// 359175209 n1 true [web/0]
	// 359175209 n2 false []
}
