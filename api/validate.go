package api

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

// Stateless validation of each message: what DecodeTx checks before any
// state is consulted. Errors wrap ErrInvalidMessage, except
// ErrInvalidParams for UpdateParams, ErrBadPubKey for a pub_key that is not
// an ed25519 key (RegisterNode, SetValidatorPower), ErrInvalidEvidence for
// equivocation evidence that does not prove an equivocation
// (validateEquivocation), and
// ErrBodyUndecodable for a body without a known message.

func invalid(format string, args ...any) error {
	return Errorf(ErrInvalidMessage, format, args...)
}

// ValidName checks the node id / workload name alphabet:
// [a-z0-9][a-z0-9.-]{0,max-1}.
func ValidName(what, s string, max int) error {
	if s == "" {
		return invalid("%s is empty", what)
	}
	if len(s) > max {
		return invalid("%s %q is %d characters; the limit is %d", what, s, len(s), max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '.' || c == '-')
		if !ok {
			return invalid("%s %q: character %q at %d is not allowed; want [a-z0-9][a-z0-9.-]*", what, s, c, i)
		}
	}
	return nil
}

// validLabelKey checks a label key / constraint label / spread key:
// [A-Za-z0-9][A-Za-z0-9._/-]*, at most MaxLabelKeyLen.
func validLabelKey(what, s string) error {
	if s == "" {
		return invalid("%s is empty", what)
	}
	if len(s) > MaxLabelKeyLen {
		return invalid("%s %q is %d characters; the limit is %d", what, s, len(s), MaxLabelKeyLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			i > 0 && (c == '.' || c == '-' || c == '_' || c == '/')
		if !ok {
			return invalid("%s %q: character %q at %d is not allowed; want [A-Za-z0-9][A-Za-z0-9._/-]*", what, s, c, i)
		}
	}
	return nil
}

// validText checks free text: valid UTF-8, no control characters, bounded.
func validText(what, s string, max int) error {
	if len(s) > max {
		return invalid("%s is %d bytes; the limit is %d", what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return invalid("%s contains control character %U", what, r)
		}
	}
	return nil
}

func validResources(what string, r types.Resources, positive bool) error {
	min := int64(0)
	if positive {
		min = 1
	}
	if r.CpuMillis < min || r.CpuMillis > MaxCPUMillis {
		return invalid("%s cpu_millis is %d; want %d..%d", what, r.CpuMillis, min, int64(MaxCPUMillis))
	}
	if r.MemoryMb < min || r.MemoryMb > MaxMemoryMB {
		return invalid("%s memory_mb is %d; want %d..%d", what, r.MemoryMb, min, int64(MaxMemoryMB))
	}
	return nil
}

func validPubKey(what string, pub []byte) error {
	if len(pub) != PubKeyLen {
		return Errorf(ErrBadPubKey, "%s is %d bytes; want %d (ed25519)", what, len(pub), PubKeyLen)
	}
	return nil
}

func validAddress(what string, addr []byte) error {
	if len(addr) != AddressLen {
		return invalid("%s is %d bytes; want %d", what, len(addr), AddressLen)
	}
	return nil
}

// validEndpoint accepts "" or host:port with a numeric port 1..65535.
func validEndpoint(s string) error {
	if s == "" {
		return nil
	}
	if err := validText("endpoint", s, MaxEndpointLen); err != nil {
		return err
	}
	host, port, ok := splitHostPort(s)
	if !ok || host == "" || strings.ContainsAny(host, " \t/") {
		return invalid("endpoint %q is not host:port", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return invalid("endpoint %q: port %q is not a number in 1..65535", s, port)
	}
	return nil
}

// splitHostPort splits "host:port" or "[ipv6]:port".
func splitHostPort(s string) (host, port string, ok bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]:")
		if end < 0 {
			return "", "", false
		}
		return s[1:end], s[end+2:], true
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.IndexByte(s[:i], ':') >= 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

func validateLabels(labels []types.Label) error {
	if len(labels) > MaxLabelsPerNode {
		return invalid("node has %d labels; the limit is %d", len(labels), MaxLabelsPerNode)
	}
	for i, l := range labels {
		if err := validLabelKey("label key", l.Key); err != nil {
			return err
		}
		if err := validText(fmt.Sprintf("label %s value", l.Key), l.Value, MaxLabelValueLen); err != nil {
			return err
		}
		if i > 0 && labels[i-1].Key >= l.Key {
			return invalid("labels must be sorted by key without duplicates; %q follows %q", l.Key, labels[i-1].Key)
		}
	}
	return nil
}

func validateRegisterNode(m *types.RegisterNode) error {
	if err := ValidName("node id", m.NodeId, MaxNodeIDLen); err != nil {
		return err
	}
	if err := validPubKey("node pub_key", m.PubKey); err != nil {
		return err
	}
	if m.Zone == "" {
		return invalid("node %s: zone is empty", m.NodeId)
	}
	if err := validText("zone", m.Zone, MaxZoneLen); err != nil {
		return err
	}
	if err := validateLabels(m.Labels); err != nil {
		return err
	}
	if err := validResources("node capacity", m.Capacity, true); err != nil {
		return err
	}
	return validEndpoint(m.Endpoint)
}

// ParseTaskID checks "{workload}/{index}" and returns its parts.
func ParseTaskID(id string) (workload string, index uint32, err error) {
	w, idx, ok := strings.Cut(id, "/")
	if !ok {
		return "", 0, invalid("task id %q is not {workload}/{index}", id)
	}
	if err := ValidName("task workload", w, MaxWorkloadNameLen); err != nil {
		return "", 0, err
	}
	n, perr := strconv.ParseUint(idx, 10, 32)
	if perr != nil || n >= MaxTaskIndex || strconv.FormatUint(n, 10) != idx {
		return "", 0, invalid("task id %q: index %q is not a number in 0..%d", id, idx, MaxTaskIndex-1)
	}
	return w, uint32(n), nil
}

func validateHeartbeat(m *types.Heartbeat) error {
	if err := ValidName("node id", m.NodeId, MaxNodeIDLen); err != nil {
		return err
	}
	if m.Seq == 0 {
		return invalid("heartbeat seq is 0; seqs start at 1")
	}
	if err := validResources("usage", m.Usage, false); err != nil {
		return err
	}
	if len(m.Tasks) > MaxTasksPerHeartbeat {
		return invalid("heartbeat reports %d tasks; the limit is %d", len(m.Tasks), MaxTasksPerHeartbeat)
	}
	reported := make(map[string]uint64, len(m.Tasks)) // task id -> generation
	for _, r := range m.Tasks {
		if _, _, err := ParseTaskID(r.TaskId); err != nil {
			return err
		}
		if _, dup := reported[r.TaskId]; dup {
			return invalid("heartbeat reports task %s twice", r.TaskId)
		}
		reported[r.TaskId] = r.Generation
		switch r.State {
		case types.TASK_ASSIGNED, types.TASK_RUNNING, types.TASK_FAILED, types.TASK_COMPLETED:
		default:
			return invalid("task %s: reported state %s; want Assigned, Running, Failed or Completed", r.TaskId, TaskStateName(r.State))
		}
		if len(r.Checkpoint) > MaxCheckpointBytes {
			return invalid("task %s: checkpoint is %d bytes; the limit is %d", r.TaskId, len(r.Checkpoint), MaxCheckpointBytes)
		}
	}
	if len(m.Stopped) > MaxTasksPerHeartbeat {
		return invalid("heartbeat reports %d stopped tasks; the limit is %d", len(m.Stopped), MaxTasksPerHeartbeat)
	}
	stopped := make(map[string]bool, len(m.Stopped))
	for _, st := range m.Stopped {
		if _, _, err := ParseTaskID(st.TaskId); err != nil {
			return err
		}
		if st.Generation == 0 {
			return invalid("stopped task %s: generation 0; generations start at 1", st.TaskId)
		}
		if stopped[st.TaskId] {
			return invalid("heartbeat reports task %s stopped twice", st.TaskId)
		}
		stopped[st.TaskId] = true
		if gen, ok := reported[st.TaskId]; ok && gen == st.Generation {
			return invalid("task %s generation %d is reported both in tasks and stopped", st.TaskId, st.Generation)
		}
	}
	return nil
}

func validateHealthReport(m *types.HealthReport) error {
	if len(m.Observations) > MaxObservationsPerReport {
		return invalid("health report has %d observations; the limit is %d", len(m.Observations), MaxObservationsPerReport)
	}
	seen := make(map[string]bool, len(m.Observations))
	for _, o := range m.Observations {
		if err := ValidName("observed node id", o.NodeId, MaxNodeIDLen); err != nil {
			return err
		}
		if seen[o.NodeId] {
			return invalid("health report observes node %s twice", o.NodeId)
		}
		seen[o.NodeId] = true
		if len(o.FailingTaskIds) > MaxFailingTasksPerObservation {
			return invalid("observation of %s lists %d failing tasks; the limit is %d", o.NodeId, len(o.FailingTaskIds), MaxFailingTasksPerObservation)
		}
		for _, id := range o.FailingTaskIds {
			if _, _, err := ParseTaskID(id); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateAttest checks an Attest's form: at most MaxAttestChanges node
// ids in all, each list sorted without duplicates (one encoding per
// statement), and no node both attested and withdrawn.
func validateAttest(m *types.Attest) error {
	if n := len(m.Up) + len(m.Withdraw); n > MaxAttestChanges {
		return invalid("attest names %d nodes (up %d, withdraw %d); the limit is %d", n, len(m.Up), len(m.Withdraw), MaxAttestChanges)
	}
	for _, list := range []struct {
		name string
		ids  []string
	}{{"up", m.Up}, {"withdraw", m.Withdraw}} {
		for i, id := range list.ids {
			if err := ValidName("attested node id", id, MaxNodeIDLen); err != nil {
				return err
			}
			if i > 0 && list.ids[i-1] >= id {
				return invalid("attest %s: %q after %q; want node ids sorted, without duplicates", list.name, id, list.ids[i-1])
			}
		}
	}
	for i, j := 0, 0; i < len(m.Up) && j < len(m.Withdraw); {
		switch {
		case m.Up[i] == m.Withdraw[j]:
			return invalid("attest names node %s in both up and withdraw; want each node in one list", m.Up[i])
		case m.Up[i] < m.Withdraw[j]:
			i++
		default:
			j++
		}
	}
	return nil
}

// validateEquivocation verifies equivocation evidence in full before any
// state is read (ADR 0014): both inner transactions decode as
// transactions of chainID (the outer body's, which DecodeTx has checked)
// carrying a Heartbeat or a HealthReport that passes its own validation,
// are signed by the same key, really conflict, and carry valid signatures.
// Everything refused wraps ErrInvalidEvidence. The cheap checks come first;
// the two signature verifications last, so junk costs at most one
// verification (the outer one) and valid evidence three.
func validateEquivocation(m *types.ReportEquivocation, chainID string, verify Verifier) error {
	_, err := checkEquivocation(m, chainID, verify)
	return err
}

// Equivocation is what a ReportEquivocation proves: the key that signed
// two conflicting statements, and the statement.
type Equivocation struct {
	PubKey  []byte
	Address []byte // crypto.Address(PubKey)
	What    string // "two different heartbeats with seq 7 for node n1"
}

// EquivocationOf returns what m proves. m must be the message of a Tx that
// DecodeTx accepted for chainID: DecodeTx verified the evidence in full
// (validateEquivocation), and EquivocationOf repeats the checks but not
// the two signature verifications.
func EquivocationOf(m *types.ReportEquivocation, chainID string) (Equivocation, error) {
	return checkEquivocation(m, chainID, nil)
}

// checkEquivocation checks m; verify nil skips the inner signatures.
func checkEquivocation(m *types.ReportEquivocation, chainID string, verify Verifier) (Equivocation, error) {
	if len(m.TxA) == 0 || len(m.TxB) == 0 {
		return Equivocation{}, invalid("equivocation report needs two transactions")
	}
	if bytes.Equal(m.TxA, m.TxB) {
		return Equivocation{}, Errorf(ErrInvalidEvidence, "equivocation report carries the same transaction twice")
	}
	txA, a, err := evidenceTx("tx_a", m.TxA, chainID)
	if err != nil {
		return Equivocation{}, err
	}
	txB, b, err := evidenceTx("tx_b", m.TxB, chainID)
	if err != nil {
		return Equivocation{}, err
	}
	if !bytes.Equal(txA.PubKey, txB.PubKey) {
		return Equivocation{}, Errorf(ErrInvalidEvidence, "tx_a is signed by %s and tx_b by %s; evidence needs one signer",
			crypto.AddressHex(txA.PubKey), crypto.AddressHex(txB.PubKey))
	}
	var what string
	switch {
	case a.GetHeartbeat() != nil && b.GetHeartbeat() != nil:
		ha, hb := a.GetHeartbeat(), b.GetHeartbeat()
		if ha.NodeId != hb.NodeId || ha.Seq != hb.Seq {
			return Equivocation{}, Errorf(ErrInvalidEvidence, "heartbeats %s#%d and %s#%d are different statements, not conflicting ones", ha.NodeId, ha.Seq, hb.NodeId, hb.Seq)
		}
		x, errA := ha.Marshal()
		y, errB := hb.Marshal()
		if errA != nil || errB != nil || bytes.Equal(x, y) {
			return Equivocation{}, Errorf(ErrInvalidEvidence, "the two heartbeats %s#%d say the same thing", ha.NodeId, ha.Seq)
		}
		what = fmt.Sprintf("two different heartbeats with seq %d for node %s", ha.Seq, ha.NodeId)
	case a.GetHealthReport() != nil && b.GetHealthReport() != nil:
		ra, rb := a.GetHealthReport(), b.GetHealthReport()
		if ra.Window != rb.Window {
			return Equivocation{}, Errorf(ErrInvalidEvidence, "health reports for windows %d and %d do not conflict: conflicting reports are for the same window", ra.Window, rb.Window)
		}
		node, aUp, ok := ReportsConflict(ra, rb)
		if !ok {
			return Equivocation{}, Errorf(ErrInvalidEvidence, "the two health reports for window %d do not conflict: no node is reachable in one and unreachable in the other", ra.Window)
		}
		what = fmt.Sprintf("conflicting health reports for node %s in window %d (%s, then %s)", node, ra.Window, reachableText(aUp), reachableText(!aUp))
	default:
		return Equivocation{}, Errorf(ErrInvalidEvidence, "evidence must be two Heartbeats or two HealthReports; got %s and %s", MsgName(a), MsgName(b))
	}
	if verify != nil {
		for _, t := range []struct {
			name string
			tx   *types.Tx
		}{{"tx_a", txA}, {"tx_b", txB}} {
			if !verify(t.tx.PubKey, t.tx.BodyBytes, t.tx.Signature) {
				return Equivocation{}, Errorf(ErrInvalidEvidence, "%s: signature does not verify for signer %s", t.name, crypto.AddressHex(t.tx.PubKey))
			}
		}
	}
	pub := append([]byte(nil), txA.PubKey...)
	return Equivocation{PubKey: pub, Address: crypto.Address(pub), What: what}, nil
}

// evidenceTx decodes one inner transaction of an equivocation report, as
// DecodeTx would but without verifying its signature (checkEquivocation
// does that last) and accepting only a Heartbeat or a HealthReport, so
// evidence cannot nest.
func evidenceTx(name string, raw []byte, chainID string) (*types.Tx, *types.TxBody, error) {
	bad := func(format string, args ...any) (*types.Tx, *types.TxBody, error) {
		return nil, nil, Errorf(ErrInvalidEvidence, name+": "+format, args...)
	}
	var tx types.Tx
	if err := tx.Unmarshal(raw); err != nil {
		return bad("not a transaction: %v", err)
	}
	if len(tx.PubKey) != PubKeyLen {
		return bad("pub_key is %d bytes; want %d (ed25519)", len(tx.PubKey), PubKeyLen)
	}
	if len(tx.Signature) != SignatureLen {
		return bad("signature is %d bytes; want %d (ed25519)", len(tx.Signature), SignatureLen)
	}
	var body types.TxBody
	if err := body.Unmarshal(tx.BodyBytes); err != nil {
		return bad("body does not decode: %v", err)
	}
	if body.ChainId != chainID {
		return bad("tx is for chain %q; this chain is %q", body.ChainId, chainID)
	}
	switch body.Msg.(type) {
	case *types.TxBody_Heartbeat, *types.TxBody_HealthReport:
	default:
		return bad("evidence must be two Heartbeats or two HealthReports; got %s", MsgName(&body))
	}
	if err := validateMsg(&body); err != nil {
		return bad("%v", err)
	}
	return &tx, &body, nil
}

// ReportsConflict returns the first node (in b's order) on which two
// health reports for the same window disagree (reachable in one,
// unreachable in the other), and whether a said reachable.
func ReportsConflict(a, b *types.HealthReport) (node string, aUp bool, ok bool) {
	byNode := make(map[string]bool, len(a.Observations))
	for _, o := range a.Observations {
		byNode[o.NodeId] = o.Reachable
	}
	for _, o := range b.Observations {
		if up, seen := byNode[o.NodeId]; seen && up != o.Reachable {
			return o.NodeId, up, true
		}
	}
	return "", false, false
}

func reachableText(up bool) string {
	if up {
		return "reachable"
	}
	return "unreachable"
}

// ValidateWorkloadSpec checks a spec on its own (names, counts, lengths,
// limits). Env and constraints must be in canonical order (env sorted by
// name without duplicates).
func ValidateWorkloadSpec(s *types.WorkloadSpec) error {
	if err := ValidName("workload name", s.Name, MaxWorkloadNameLen); err != nil {
		return err
	}
	if s.Command == "" {
		return invalid("workload %s: command is empty", s.Name)
	}
	if err := validText("command", s.Command, MaxCommandLen); err != nil {
		return err
	}
	if len(s.Args) > MaxArgs {
		return invalid("workload %s has %d args; the limit is %d", s.Name, len(s.Args), MaxArgs)
	}
	for i, a := range s.Args {
		if len(a) > MaxArgLen || !utf8.ValidString(a) {
			return invalid("workload %s: arg %d is not valid UTF-8 of at most %d bytes", s.Name, i, MaxArgLen)
		}
	}
	if len(s.Env) > MaxEnvVars {
		return invalid("workload %s has %d env vars; the limit is %d", s.Name, len(s.Env), MaxEnvVars)
	}
	for i, e := range s.Env {
		if err := validEnvName(e.Name); err != nil {
			return err
		}
		if len(e.Value) > MaxEnvValueLen || !utf8.ValidString(e.Value) {
			return invalid("env %s: value is not valid UTF-8 of at most %d bytes", e.Name, MaxEnvValueLen)
		}
		if i > 0 && s.Env[i-1].Name >= e.Name {
			return invalid("env must be sorted by name without duplicates; %q follows %q", e.Name, s.Env[i-1].Name)
		}
	}
	if s.Replicas > MaxReplicasPerWorkload {
		return invalid("workload %s: replicas is %d; the limit is %d", s.Name, s.Replicas, MaxReplicasPerWorkload)
	}
	if err := validateDisconnect(s); err != nil {
		return err
	}
	if err := validateChecks(s); err != nil {
		return err
	}
	if err := validResources("workload "+s.Name+" resources", s.Resources, true); err != nil {
		return err
	}
	if len(s.Constraints) > MaxConstraints {
		return invalid("workload %s has %d constraints; the limit is %d", s.Name, len(s.Constraints), MaxConstraints)
	}
	for _, c := range s.Constraints {
		if err := validLabelKey("constraint label", c.Label); err != nil {
			return err
		}
		if c.Op != "=" && c.Op != "!=" {
			return invalid("constraint on %s: op %q; want \"=\" or \"!=\"", c.Label, c.Op)
		}
		if err := validText("constraint value", c.Value, MaxLabelValueLen); err != nil {
			return err
		}
	}
	if s.SpreadKey != "" {
		if err := validLabelKey("spread_key", s.SpreadKey); err != nil {
			return err
		}
	}
	for _, b := range []struct {
		name string
		v    uint32
	}{{"max_per_domain", s.MaxPerDomain}, {"max_per_node", s.MaxPerNode}, {"max_unavailable", s.MaxUnavailable}, {"max_skew", s.MaxSkew}} {
		if b.v > MaxReplicasPerWorkload {
			return invalid("workload %s: %s is %d; the limit is %d", s.Name, b.name, b.v, MaxReplicasPerWorkload)
		}
	}
	if (s.MaxPerDomain > 0 || s.MaxSkew > 0) && s.SpreadKey == "" {
		return invalid("workload %s: max_per_domain and max_skew need a spread_key", s.Name)
	}
	rp := s.RestartPolicy
	if rp.MaxRestarts > MaxRestarts {
		return invalid("workload %s: restart_policy.max_restarts is %d; the limit is %d", s.Name, rp.MaxRestarts, MaxRestarts)
	}
	if rp.BackoffBaseMs < 0 || rp.BackoffBaseMs > MaxBackoffMs || rp.BackoffMaxMs < 0 || rp.BackoffMaxMs > MaxBackoffMs {
		return invalid("workload %s: restart_policy backoffs must be in 0..%d ms", s.Name, MaxBackoffMs)
	}
	if rp.BackoffMaxMs != 0 && rp.BackoffMaxMs < rp.BackoffBaseMs {
		return invalid("workload %s: restart_policy.backoff_max_ms %d is below backoff_base_ms %d", s.Name, rp.BackoffMaxMs, rp.BackoffBaseMs)
	}
	switch s.Rank {
	case "", RankBinpack, RankSpread:
	default:
		return invalid("workload %s: rank %q; want %q or %q", s.Name, s.Rank, RankBinpack, RankSpread)
	}
	switch s.ReplaceOrder {
	case "", StartFirst:
	default:
		return invalid("workload %s: replace_order %q; want %q (the default, written \"\" in a transaction) or %q", s.Name, s.ReplaceOrder, StopFirst, StartFirst)
	}
	switch s.Type {
	case "":
		if s.Parallelism != 0 {
			return invalid("workload %s: parallelism %d applies to type batch; a service runs all its replicas", s.Name, s.Parallelism)
		}
	case TypeBatch:
		if s.Replicas == 0 {
			return invalid("batch workload %s: completions is 0; want at least 1", s.Name)
		}
		if s.Parallelism > s.Replicas {
			return invalid("batch workload %s: parallelism %d is above completions %d; want 0 (all at once) to %d", s.Name, s.Parallelism, s.Replicas, s.Replicas)
		}
	case TypeSystem:
		switch {
		case s.Replicas != 0:
			return invalid("system workload %s: replicas %d; a system workload runs one task on every eligible node: leave replicas out", s.Name, s.Replicas)
		case s.Parallelism != 0:
			return invalid("workload %s: parallelism %d applies to type batch", s.Name, s.Parallelism)
		case s.SpreadKey != "" || s.MaxPerDomain != 0 || s.MaxSkew != 0 || s.MaxPerNode != 0:
			return invalid("system workload %s: spread_key, max_per_domain, max_skew and max_per_node do not apply: it runs one task on every eligible node", s.Name)
		}
	default:
		return invalid("workload %s: type %q; want %q (written \"\" in a transaction), %q or %q", s.Name, s.Type, TypeService, TypeBatch, TypeSystem)
	}
	return nil
}

// Ranking strategies (WorkloadSpec.rank; "" means binpack).
const (
	RankBinpack = "binpack"
	RankSpread  = "spread"
)

func validEnvName(s string) error {
	if s == "" || len(s) > MaxEnvNameLen {
		return invalid("env name %q must be 1..%d characters", s, MaxEnvNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			return invalid("env name %q: character %q at %d is not allowed; want [A-Za-z_][A-Za-z0-9_]*", s, c, i)
		}
	}
	return nil
}

// validateMsg runs the message's own validation.
func validateMsg(body *types.TxBody) error { return validateMsgWith(body, crypto.Verify) }

// validateMsgWith is validateMsg with the signatures inside the message
// (equivocation evidence) checked by verify: DecodeTxWith may pass its
// Verifier, so that a signature cache covers them too.
func validateMsgWith(body *types.TxBody, verify Verifier) error {
	switch m := body.Msg.(type) {
	case *types.TxBody_RegisterNode:
		return validateRegisterNode(m.RegisterNode)
	case *types.TxBody_Heartbeat:
		return validateHeartbeat(m.Heartbeat)
	case *types.TxBody_HealthReport:
		return validateHealthReport(m.HealthReport)
	case *types.TxBody_Attest:
		return validateAttest(m.Attest)
	case *types.TxBody_ReportEquivocation:
		return validateEquivocation(m.ReportEquivocation, body.ChainId, verify)
	case *types.TxBody_CreateWorkload:
		return ValidateWorkloadSpec(&m.CreateWorkload.Spec)
	case *types.TxBody_UpdateWorkload:
		return ValidateWorkloadSpec(&m.UpdateWorkload.Spec)
	case *types.TxBody_DeleteWorkload:
		return ValidName("workload name", m.DeleteWorkload.Name, MaxWorkloadNameLen)
	case *types.TxBody_CordonNode:
		if err := ValidName("node id", m.CordonNode.NodeId, MaxNodeIDLen); err != nil {
			return err
		}
		return validText("reason", m.CordonNode.Reason, MaxReasonLen)
	case *types.TxBody_UncordonNode:
		return ValidName("node id", m.UncordonNode.NodeId, MaxNodeIDLen)
	case *types.TxBody_DrainNode:
		if err := ValidName("node id", m.DrainNode.NodeId, MaxNodeIDLen); err != nil {
			return err
		}
		if d := m.DrainNode.DeadlineMs; d < 0 || d > MaxDrainDeadlineMs {
			return invalid("drain deadline_ms is %d; want 0 (evict every task at once) to %d (a week)", d, MaxDrainDeadlineMs)
		}
		return validText("reason", m.DrainNode.Reason, MaxReasonLen)
	case *types.TxBody_GrantRole:
		if err := validAddress("address", m.GrantRole.Address); err != nil {
			return err
		}
		if !ValidRole(m.GrantRole.Role) {
			return invalid("role %d is not admin, operator, observer or node", int32(m.GrantRole.Role))
		}
		return nil
	case *types.TxBody_RevokeRole:
		if err := validAddress("address", m.RevokeRole.Address); err != nil {
			return err
		}
		if !ValidRole(m.RevokeRole.Role) {
			return invalid("role %d is not admin, operator, observer or node", int32(m.RevokeRole.Role))
		}
		return nil
	case *types.TxBody_UpdateParams:
		return ValidateParams(m.UpdateParams.Params)
	case *types.TxBody_SetValidatorPower:
		if err := validPubKey("validator pub_key", m.SetValidatorPower.PubKey); err != nil {
			return err
		}
		if p := m.SetValidatorPower.Power; p < 0 || p > MaxValidatorPower {
			return invalid("validator power is %d; want 0..%d", p, int64(MaxValidatorPower))
		}
		return nil
	case *types.TxBody_RemoveNode:
		return validateRemoveNode(m.RemoveNode)
	case *types.TxBody_UnjailObserver:
		return validAddress("address", m.UnjailObserver.Address)
	case nil:
		return Errorf(ErrBodyUndecodable, "tx body carries no message")
	default:
		return Errorf(ErrBodyUndecodable, "tx body carries an unknown message %T", m)
	}
}

// MsgName is the message's name in logs and errors.
func MsgName(body *types.TxBody) string {
	switch body.Msg.(type) {
	case *types.TxBody_RegisterNode:
		return "RegisterNode"
	case *types.TxBody_Heartbeat:
		return "Heartbeat"
	case *types.TxBody_HealthReport:
		return "HealthReport"
	case *types.TxBody_Attest:
		return "Attest"
	case *types.TxBody_ReportEquivocation:
		return "ReportEquivocation"
	case *types.TxBody_CreateWorkload:
		return "CreateWorkload"
	case *types.TxBody_UpdateWorkload:
		return "UpdateWorkload"
	case *types.TxBody_DeleteWorkload:
		return "DeleteWorkload"
	case *types.TxBody_CordonNode:
		return "CordonNode"
	case *types.TxBody_UncordonNode:
		return "UncordonNode"
	case *types.TxBody_DrainNode:
		return "DrainNode"
	case *types.TxBody_GrantRole:
		return "GrantRole"
	case *types.TxBody_RevokeRole:
		return "RevokeRole"
	case *types.TxBody_UpdateParams:
		return "UpdateParams"
	case *types.TxBody_SetValidatorPower:
		return "SetValidatorPower"
	case *types.TxBody_RemoveNode:
		return "RemoveNode"
	case *types.TxBody_UnjailObserver:
		return "UnjailObserver"
	}
	return "(none)"
}

// validateRemoveNode checks RemoveNode: a node id, an optional reason.
func validateRemoveNode(m *types.RemoveNode) error {
	if err := ValidName("node id", m.NodeId, MaxNodeIDLen); err != nil {
		return err
	}
	return validText("reason", m.Reason, MaxReasonLen)
}
