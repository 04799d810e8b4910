package app

import (
	"testing"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/app/scheduler"
)

// TestLimitsNest restates at run time what limits.go asserts at compile
// time, with the numbers in the message: the scheduler must accept every
// state the wire API admits, and the accounts must hold every node's.
func TestLimitsNest(t *testing.T) {
	if scheduler.MaxNodes < api.MaxNodes {
		t.Errorf("scheduler.MaxNodes %d < api.MaxNodes %d", scheduler.MaxNodes, api.MaxNodes)
	}
	if scheduler.MaxTasksPerCall < api.MaxTasksTotal {
		t.Errorf("scheduler.MaxTasksPerCall %d < api.MaxTasksTotal %d", scheduler.MaxTasksPerCall, api.MaxTasksTotal)
	}
	if api.MaxAccounts < api.MaxNodes+api.MaxObservers {
		t.Errorf("api.MaxAccounts %d cannot hold api.MaxNodes %d node accounts and api.MaxObservers %d", api.MaxAccounts, api.MaxNodes, api.MaxObservers)
	}
	if api.MaxTasksTotal > api.MaxWorkloads*api.MaxReplicasPerWorkload {
		t.Errorf("api.MaxTasksTotal %d is more than api.MaxWorkloads × api.MaxReplicasPerWorkload", api.MaxTasksTotal)
	}
}
