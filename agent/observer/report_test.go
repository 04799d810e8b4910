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

func TestAttestChanges(t *testing.T) {
	obs := []types.Observation{
		{NodeId: "n3", Reachable: true}, {NodeId: "n1", Reachable: true},
		{NodeId: "n2", Reachable: false}, {NodeId: "n4", Reachable: false}, {NodeId: "n5", Reachable: true},
	}
	// Nothing known (a fresh start): every reached node goes up, every
	// other one is withdrawn, sorted.
	got := AttestChanges(nil, obs)
	if len(got) != 1 || strings.Join(got[0].Up, ",") != "n1,n3,n5" || strings.Join(got[0].Withdraw, ",") != "n2,n4" {
		t.Fatalf("fresh start: got %v", got)
	}
	// Known: only the changes.
	standing := map[string]bool{"n1": true, "n2": false, "n3": false, "n4": true, "n5": true}
	got = AttestChanges(standing, obs)
	if len(got) != 1 || strings.Join(got[0].Up, ",") != "n3" || strings.Join(got[0].Withdraw, ",") != "n4" {
		t.Fatalf("changes: got %v", got)
	}
	// No change: one empty Attest, which keeps the attestations fresh.
	standing = map[string]bool{"n1": true, "n2": false, "n3": true, "n4": false, "n5": true}
	got = AttestChanges(standing, obs)
	if len(got) != 1 || len(got[0].Up)+len(got[0].Withdraw) != 0 {
		t.Fatalf("no change: got %v", got)
	}
	// Many changes are split at api.MaxAttestChanges, each valid.
	var many []types.Observation
	for i := 0; i < 2*api.MaxAttestChanges+3; i++ {
		many = append(many, types.Observation{NodeId: fmt.Sprintf("n%05d", i), Reachable: i%3 != 0})
	}
	got = AttestChanges(nil, many)
	total := 0
	for _, m := range got {
		if err := client.CheckMsg("c", 0, "", m); err != nil {
			t.Fatal(err)
		}
		raw, err := client.BuildTx("c", 1, 0, "", m, testKey())
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) > api.MaxAttestTxBytes {
			t.Fatalf("attest tx is %d bytes; the limit is %d", len(raw), api.MaxAttestTxBytes)
		}
		total += len(m.Up) + len(m.Withdraw)
	}
	if len(got) != 3 || total != len(many) {
		t.Fatalf("split: %d messages naming %d nodes; want 3 naming %d", len(got), total, len(many))
	}
}

func TestNewsworthy(t *testing.T) {
	nodes := []api.NodeView{
		{ID: "calm", State: "Ready", Attested: true},
		{ID: "unattested", State: "Ready"},
		{ID: "down", State: "Down", Attested: true},
		{ID: "failing", State: "Ready", Attested: true},
		{ID: "lost", State: "Ready", Attested: true},
	}
	obs := []types.Observation{
		{NodeId: "calm", Reachable: true}, {NodeId: "unattested", Reachable: true},
		{NodeId: "down", Reachable: true}, {NodeId: "failing", Reachable: true, FailingTaskIds: []string{"web/0"}},
		{NodeId: "lost", Reachable: false},
	}
	var ids []string
	for _, ob := range Newsworthy(obs, nodes) {
		ids = append(ids, ob.NodeId)
	}
	if got := strings.Join(ids, ","); got != "unattested,down,failing,lost" {
		t.Fatalf("newsworthy: %s; want every observation but the calm node's", got)
	}
}
