package app

import (
	"fmt"
	"strings"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// Admission in golden scripts (ADR 0014): the evidence command, which
// builds equivocation evidence of any shape, and the check deliver runs on
// every transaction a script sends that fails in DeliverTx: it changed no
// record but, for a signer with an account, its sequence.

func init() {
	goldenCommands["evidence"] = goldenCommand{run: (*harness).handleEvidence}
}

// handleEvidence: evidence a=INNER b=INNER (ReportEquivocation of the two
// inner transactions; signer ops by default). INNER is one of
//
//	hb:KEY:NODE:SEQ:CPU          a heartbeat of NODE with seq SEQ and usage CPU, signed by KEY
//	report:KEY:WINDOW:NODE:up|down
//	                             a health report of one observation, signed by KEY
//	cordon:KEY:NODE              a CordonNode (not a statement evidence can be about)
//	junk                         bytes that are not a transaction
//
// optionally followed by !sig (the signature altered) or !chain (signed
// for another chain).
func (h *harness) handleEvidence(a *args, _ string) string {
	msg := &types.ReportEquivocation{TxA: h.innerTx(a, "a"), TxB: h.innerTx(a, "b")}
	return h.deliver(a, &types.TxBody{Msg: &types.TxBody_ReportEquivocation{ReportEquivocation: msg}}, "ops")
}

func (h *harness) innerTx(a *args, key string) []byte {
	spec := a.nonEmpty(key, "")
	if spec == "" {
		a.fail("evidence needs %s=INNER", key)
	}
	spec, mod, _ := strings.Cut(spec, "!")
	if spec == "junk" {
		return []byte("not a transaction \xff")
	}
	f := strings.Split(spec, ":")
	arg := key + "=" + spec
	want := map[string]int{"hb": 5, "report": 5, "cordon": 3}[f[0]]
	if want == 0 || len(f) != want || f[1] == "" {
		a.fail("%s: want hb:KEY:NODE:SEQ:CPU, report:KEY:WINDOW:NODE:up|down, cordon:KEY:NODE or junk", arg)
	}
	signer := f[1]
	h.name(signer)
	body := &types.TxBody{ChainId: testChainID, Sequence: 1000}
	switch f[0] {
	case "hb":
		body.Msg = &types.TxBody_Heartbeat{Heartbeat: &types.Heartbeat{NodeId: f[2], Seq: uintField(a, arg, "seq", f[3], 64),
			Usage: types.Resources{CpuMillis: int64(uintField(a, arg, "cpu", f[4], 32))}}}
	case "report":
		if f[4] != "up" && f[4] != "down" {
			a.fail("%s: want up or down, not %q", arg, f[4])
		}
		body.Msg = &types.TxBody_HealthReport{HealthReport: &types.HealthReport{Window: h.window(a, f[2]),
			Observations: []types.Observation{{NodeId: f[3], Reachable: f[4] == "up"}}}}
	case "cordon":
		body.Msg = &types.TxBody_CordonNode{CordonNode: &types.CordonNode{NodeId: f[2]}}
	}
	switch mod {
	case "":
	case "chain":
		body.ChainId = "other-chain"
	case "sig":
	default:
		a.fail("%s: modifier !%s; want !sig or !chain", arg, mod)
	}
	raw := encodeTx(testKey(signer), body)
	if mod == "sig" {
		var tx types.Tx
		if err := tx.Unmarshal(raw); err != nil {
			panic(err)
		}
		tx.Signature[0] ^= 1
		raw, _ = tx.Marshal()
	}
	return raw
}

// snapshotRecords returns every record of the state, marshalled, by store
// key.
func (s *State) snapshotRecords() map[string]string {
	if len(recordTypes) != 8 {
		panic("snapshotRecords: the record types changed; list the new one here")
	}
	out := map[string]string{}
	put := func(key string) {
		if m, ok := s.record(key); ok {
			b, err := m.Marshal()
			if err != nil {
				panic(err)
			}
			out[key] = string(b)
		}
	}
	put(keyParams)
	put(keyBlockInfo)
	for _, k := range sortedKeys(s.accounts) {
		put(prefixAccounts + k)
	}
	for _, k := range sortedKeys(s.nodes) {
		put(prefixNodes + k)
	}
	for _, k := range sortedKeys(s.workloads) {
		put(prefixWorkloads + k)
	}
	for _, k := range sortedKeys(s.tasks) {
		put(prefixTasks + k)
	}
	for _, k := range sortedKeys(s.validators) {
		put(prefixValidators + k)
	}
	for _, k := range sortedKeys(s.reports) {
		put(prefixReports + k)
	}
	return out
}

// failedTxCheck is the state before a transaction, to check after it
// failed that it changed nothing but its signer's sequence.
type failedTxCheck struct {
	records   map[string]string
	dirtyLen  int
	signerKey string // the signer's account's store key
	hadAcc    bool
}

func (s *State) beforeTx(tx *api.Tx) failedTxCheck {
	key := addrHex(tx.Address)
	_, had := s.accounts[key]
	return failedTxCheck{records: s.snapshotRecords(), dirtyLen: len(s.dirtyKeys), signerKey: prefixAccounts + key, hadAcc: had}
}

// afterFailedTx reports a change a failed transaction made other than its
// signer's sequence (+1 at most): a record created, deleted or changed, or
// a key touched (what TakeChanges would return).
func (s *State) afterFailedTx(c failedTxCheck) error {
	after := s.snapshotRecords()
	keys := map[string]struct{}{}
	for k := range c.records {
		keys[k] = struct{}{}
	}
	for k := range after {
		keys[k] = struct{}{}
	}
	for _, k := range sortedKeys(keys) {
		b, inB := c.records[k]
		x, inA := after[k]
		if b == x && inB == inA {
			continue
		}
		if k != c.signerKey || !inB || !inA {
			return fmt.Errorf("record %s was created, deleted or changed (before: %v, after: %v)", k, inB, inA)
		}
		var accB, accA types.Account
		if err := accB.Unmarshal([]byte(b)); err != nil {
			return err
		}
		if err := accA.Unmarshal([]byte(x)); err != nil {
			return err
		}
		if accA.Sequence != accB.Sequence+1 {
			return fmt.Errorf("the signer's sequence went from %d to %d", accB.Sequence, accA.Sequence)
		}
		accA.Sequence = accB.Sequence
		if y, _ := accA.Marshal(); string(y) != b {
			return fmt.Errorf("the signer's account changed beyond its sequence")
		}
	}
	for _, k := range s.dirtyKeys[c.dirtyLen:] {
		if k != c.signerKey || !c.hadAcc {
			return fmt.Errorf("key %s was touched", k)
		}
	}
	return nil
}
