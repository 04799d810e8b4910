package app

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// TestReportRecordWorstCase builds the largest report record the rules
// allow (api.MaxReportRecordBytes): the longest node id, 2 open windows,
// a vote from each of api.MaxObservers observers in each, every vote
// reachable, scored and naming api.MaxStoredFailingTasksPerVote failing
// tasks with ids of api.MaxTaskIDLen, and checks that it fits.
func TestReportRecordWorstCase(t *testing.T) {
	id := func(k int) string {
		s := fmt.Sprintf("%s/%d", strings.Repeat("w", api.MaxWorkloadNameLen-1)+string(rune('a'+k)), api.MaxReplicasPerWorkload-1)
		if len(s) != api.MaxTaskIDLen {
			t.Fatalf("task id %q: %d bytes, want %d", s, len(s), api.MaxTaskIDLen)
		}
		if _, _, err := api.ParseTaskID(s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	r := &types.NodeReports{NodeId: strings.Repeat("n", api.MaxNodeIDLen)}
	for w := 0; w < 2; w++ {
		tally := types.WindowTally{Window: math.MaxUint64 - uint64(w), Outcome: types.VERDICT_PARTITIONED, Struck: true}
		for o := 0; o < api.MaxObservers; o++ {
			v := types.Vote{Observer: bytes.Repeat([]byte{0xff}, crypto.AddressLen), Reachable: true, Scored: true}
			for k := 0; k < api.MaxStoredFailingTasksPerVote; k++ {
				v.FailingTaskIds = append(v.FailingTaskIds, id(k))
			}
			tally.Votes = append(tally.Votes, v)
		}
		r.Windows = append(r.Windows, tally)
	}
	size := r.Size()
	t.Logf("worst-case report record: %d bytes; bound %d", size, api.MaxReportRecordBytes)
	if size > api.MaxReportRecordBytes {
		t.Fatalf("worst-case report record is %d bytes, above MaxReportRecordBytes %d", size, api.MaxReportRecordBytes)
	}
	if size != 610_103 {
		t.Errorf("worst-case report record is %d bytes; api/limits.go's comment says 610,103", size)
	}
}
