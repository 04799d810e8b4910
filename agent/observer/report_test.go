package observer

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/types"
)

func TestBuildReportSortsAndPasses(t *testing.T) {
	obs := []types.Observation{
		{NodeId: "n3", Reachable: true, RttMs: 3},
		{NodeId: "n1", Reachable: false},
		{NodeId: "n2", Reachable: true, FailingTaskIds: []string{"web/0"}},
	}
	r := BuildReport(7, obs)
	if r.Window != 7 || len(r.Observations) != 3 || r.Observations[0].NodeId != "n1" || r.Observations[2].NodeId != "n3" {
		t.Fatalf("report: %+v", r)
	}
	if err := client.CheckMsg("c", 0, "", r); err != nil {
		t.Fatalf("the chain's checks refuse the report: %v", err)
	}
}

// TestBuildReportBounded: a cluster too large for one report yields a
// report within the chain's limits, and the nodes left out rotate.
func TestBuildReportBounded(t *testing.T) {
	var obs []types.Observation
	for i := range api.MaxObservationsPerReport + 500 {
		ob := types.Observation{NodeId: fmt.Sprintf("node-%05d", i), Reachable: true}
		for j := range 3 {
			ob.FailingTaskIds = append(ob.FailingTaskIds, fmt.Sprintf("%s/%d", strings.Repeat("w", 40), j))
		}
		obs = append(obs, ob)
	}
	seen := map[string]bool{}
	for w := uint64(100); w < 110; w++ {
		r := BuildReport(w, append([]types.Observation(nil), obs...))
		if len(r.Observations) == 0 || len(r.Observations) > api.MaxObservationsPerReport {
			t.Fatalf("window %d: %d observations", w, len(r.Observations))
		}
		raw, err := client.BuildTx("c", 1, 0, "", r, testKey())
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) > api.MaxTxBytes {
			t.Fatalf("window %d: tx is %d bytes; the limit is %d", w, len(raw), api.MaxTxBytes)
		}
		if err := client.CheckMsg("c", 0, "", r); err != nil {
			t.Fatalf("window %d: %v", w, err)
		}
		for _, o := range r.Observations {
			seen[o.NodeId] = true
		}
	}
	if len(seen) <= len(BuildReport(100, obs).Observations) {
		t.Fatalf("the observations do not rotate across windows: %d distinct nodes", len(seen))
	}
}

func testKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
}

// An agent's failing tasks count only if the chain places them on its
// node: the chain refuses others and penalises the observer naming them.
func TestFailingPlacedKeepsOnlyTheNodesTasks(t *testing.T) {
	n := api.NodeView{ID: "n1", Tasks: []string{"web/0", "web/2", "db/1"}}
	tv := api.AgentTasksView{NodeID: "n1", Tasks: []api.AgentTaskView{
		{TaskID: "web/2"}, {TaskID: "web/0", Healthy: true}, {TaskID: "other/0"},
		{TaskID: "db/1"}, {TaskID: "db/1"}, {TaskID: "web/9"},
	}}
	got := failingPlaced(n, tv)
	if want := []string{"db/1", "web/2"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("failingPlaced = %v, want %v", got, want)
	}
	if got := failingPlaced(api.NodeView{ID: "n1"}, tv); len(got) != 0 {
		t.Fatalf("a node with no tasks on the chain: failingPlaced = %v, want none", got)
	}
}
