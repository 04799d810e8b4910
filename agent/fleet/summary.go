package fleet

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// Summary is what a fleet run found. JSON field names are part of the
// command's output (`phalanxd fleet -o json`).
type Summary struct {
	Nodes     int     `json:"nodes"`
	Seed      uint64  `json:"seed"`
	DurationS float64 `json:"duration_s"`
	// Registered: the fleet's nodes in the node list at the end;
	// Adopted: of them, registered before the run.
	Registered int `json:"registered"`
	Adopted    int `json:"adopted"`
	// Attested: alive nodes an observer quorum attested at the last read.
	Attested int `json:"attested"`
	// UpAfterS: when every node was registered and attested (0: never).
	UpAfterS float64 `json:"up_after_s"`

	// False verdicts: Suspect or Down transitions of nodes the fleet kept
	// alive (a revived node's verdicts within two report windows and two
	// intervals of its revival are its crash's, not false).
	FalseSuspect int      `json:"false_suspect"`
	FalseDown    int      `json:"false_down"`
	FalseNodes   []string `json:"false_nodes,omitempty"`
	// SuspectVerdicts, DownVerdicts: every transition to Suspect or Down
	// seen, crashed nodes' included.
	SuspectVerdicts int `json:"suspect_verdicts"`
	DownVerdicts    int `json:"down_verdicts"`

	// Crashes: Detected had their Down verdict seen, Undetected not by the
	// end of the run; detection time is crash → the Down verdict's event
	// (or the node list read that showed it first).
	Crashed        int   `json:"crashed"`
	Revived        int   `json:"revived"`
	Detected       int   `json:"detected"`
	Undetected     int   `json:"undetected"`
	DetectionP50Ms int64 `json:"detection_p50_ms"`
	DetectionP99Ms int64 `json:"detection_p99_ms"`
	DetectionMaxMs int64 `json:"detection_max_ms"`

	// Transactions the fleet sent (admitted by a validator's mempool),
	// and TxPerS their rate over the run.
	Tx     TxCounts `json:"tx"`
	TxPerS float64  `json:"tx_per_s"`
	// HeartbeatsSkipped: intervals of attested nodes without a heartbeat.
	HeartbeatsSkipped int64 `json:"heartbeats_skipped"`
	// ChainTxPerS: every transaction the chain committed during the run
	// (the observers' too) per second of block time.
	ChainTx     int64   `json:"chain_tx"`
	ChainTxPerS float64 `json:"chain_tx_per_s"`

	ProbesAnswered int64 `json:"probes_answered"`
	ProbesRefused  int64 `json:"probes_refused"` // to crashed nodes
	// EventsSeen: node_status events of fleet nodes; ListReadErrors:
	// node list reads that failed.
	EventsSeen     int `json:"events_seen"`
	ListReadErrors int `json:"list_read_errors"`
}

// TxCounts are the fleet's transactions by kind.
type TxCounts struct {
	Register  int64 `json:"register"`
	Heartbeat int64 `json:"heartbeat"`
	// Refused: not admitted by any validator (or not answered in time).
	Refused int64 `json:"refused"`
}

func (f *Fleet) summary(end time.Time, chainTx int64, chainSecs float64) *Summary {
	f.mu.Lock()
	defer f.mu.Unlock()
	el := end.Sub(f.start)
	s := &Summary{
		Nodes: len(f.nodes), Seed: f.cfg.Seed, DurationS: round1(el.Seconds()), Adopted: f.counts.adopted,
		FalseSuspect: f.counts.falseSuspect, FalseDown: f.counts.falseDown, FalseNodes: f.falseNodes,
		SuspectVerdicts: f.counts.suspect, DownVerdicts: f.counts.down,
		Crashed: f.counts.crashed, Revived: f.counts.revived, Detected: len(f.detections),
		Tx:                TxCounts{Register: f.counts.registerSent, Heartbeat: f.counts.heartbeatSent, Refused: f.counts.refused},
		HeartbeatsSkipped: f.counts.heartbeatsSkipped, ChainTx: chainTx,
		ProbesAnswered: f.probes.Load(), ProbesRefused: f.refused.Load(),
		EventsSeen: f.counts.eventsSeen, ListReadErrors: f.listErrors,
	}
	s.Undetected = s.Crashed - s.Detected
	for _, n := range f.nodes {
		if n.registered {
			s.Registered++
		}
		if n.attested && !n.crashed {
			s.Attested++
		}
	}
	if !f.rampDoneAt.IsZero() && f.rampDoneAt.Sub(f.start) < f.cfg.Duration/3 {
		s.UpAfterS = round1(f.rampDoneAt.Sub(f.start).Seconds())
	}
	if el > 0 {
		s.TxPerS = round1(float64(s.Tx.Register+s.Tx.Heartbeat) / el.Seconds())
	}
	if chainSecs > 0 {
		s.ChainTxPerS = round1(float64(chainTx) / chainSecs)
	}
	if len(f.detections) > 0 {
		d := slices.Clone(f.detections)
		slices.Sort(d)
		s.DetectionP50Ms = Percentile(d, 50).Milliseconds()
		s.DetectionP99Ms = Percentile(d, 99).Milliseconds()
		s.DetectionMaxMs = d[len(d)-1].Milliseconds()
	}
	return s
}

// Percentile is the p-th percentile (nearest rank) of sorted d; 0 for none.
func Percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 · n)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// WriteText prints the summary for a person.
func (s *Summary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "fleet summary: %d nodes (seed %d) for %.1f s\n", s.Nodes, s.Seed, s.DurationS)
	up := "never all registered and attested"
	if s.UpAfterS > 0 {
		up = fmt.Sprintf("all registered and attested after %.1f s", s.UpAfterS)
	}
	fmt.Fprintf(w, "  nodes:        %d registered (%d adopted), %d attested at the end; %s\n", s.Registered, s.Adopted, s.Attested, up)
	fmt.Fprintf(w, "  false:        %d Suspect, %d Down (nodes kept alive)\n", s.FalseSuspect, s.FalseDown)
	for _, n := range s.FalseNodes {
		fmt.Fprintf(w, "                %s\n", n)
	}
	fmt.Fprintf(w, "  crashes:      %d crashed, %d detected (Down), %d undetected, %d revived\n", s.Crashed, s.Detected, s.Undetected, s.Revived)
	fmt.Fprintf(w, "  detection:    p50 %d ms, p99 %d ms, max %d ms (crash → Down verdict)\n", s.DetectionP50Ms, s.DetectionP99Ms, s.DetectionMaxMs)
	fmt.Fprintf(w, "  verdicts:     %d Suspect, %d Down seen in all\n", s.SuspectVerdicts, s.DownVerdicts)
	fmt.Fprintf(w, "  fleet tx:     %.1f/s: %d registrations, %d heartbeats, %d refused; %d heartbeats skipped (attested)\n",
		s.TxPerS, s.Tx.Register, s.Tx.Heartbeat, s.Tx.Refused, s.HeartbeatsSkipped)
	fmt.Fprintf(w, "  chain tx:     %.1f/s (%d committed during the run, observers' included)\n", s.ChainTxPerS, s.ChainTx)
	fmt.Fprintf(w, "  probes:       %d answered, %d refused (crashed nodes)\n", s.ProbesAnswered, s.ProbesRefused)
}
