package app

import (
	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/app/health"
	"github.com/phalanx-bft/phalanx/app/scheduler"
)

// The bounds of the state and of every message are in api/limits.go (they
// are part of the wire contract). The state machine's own bounds:
const (
	// DeadlineQueueSlack bounds the lazily invalidated heaps: the failure
	// detector's deadline index (per node) and the restart backoff queue
	// (per task). When one holds more than DeadlineQueueSlack entries per
	// node or task (plus 1024), its stale entries are dropped by rebuilding
	// it from the records.
	DeadlineQueueSlack = 4
)

// The scheduler's and the failure detector's own limits must hold what the
// wire API allows: a negative array length does not compile.
var (
	_ [scheduler.MaxNodes - api.MaxNodes]struct{}
	_ [scheduler.MaxTasksPerCall - api.MaxTasksTotal]struct{}
	_ [scheduler.MaxPlacementsPerCall - api.MaxPlacementsPerBlockLimit]struct{}
	_ [api.MinPhiThresholdMilli - health.MinPhiThresholdMilli]struct{}
	_ [health.MaxPhiThresholdMilli - api.MaxPhiThresholdMilli]struct{}
	_ [api.MaxAccounts - api.MaxNodes - api.MaxObservers]struct{}
)
