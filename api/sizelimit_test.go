package api

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/phalanx-bft/phalanx/crypto"
	"github.com/phalanx-bft/phalanx/types"
)

const sizeChain = "size-test"

func sizeKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("phalanx-api-size-test"))
	return ed25519.NewKeyFromSeed(seed[:])
}

func signedRaw(t *testing.T, body *types.TxBody) []byte {
	t.Helper()
	body.ChainId = sizeChain
	k := sizeKey()
	bz, err := body.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := (&types.Tx{BodyBytes: bz, PubKey: k.Public().(ed25519.PublicKey), Signature: crypto.Sign(k, bz)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestSizeLimitPerMessageType: a transaction above its type's limit is
// refused with ErrMsgTooLarge before the message is validated, and the
// largest valid message of the small types fits.
func TestSizeLimitPerMessageType(t *testing.T) {
	big := strings.Repeat("x", 2000)
	over := []struct {
		name  string
		body  *types.TxBody
		limit int
	}{
		{"cordon", &types.TxBody{Msg: &types.TxBody_CordonNode{CordonNode: &types.CordonNode{NodeId: "n1", Reason: big}}}, MaxSmallMsgTxBytes},
		{"grant", &types.TxBody{Memo: big, Msg: &types.TxBody_GrantRole{GrantRole: &types.GrantRole{Address: make([]byte, 20)}}}, MaxSmallMsgTxBytes},
		{"register", &types.TxBody{Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{NodeId: "n1", Endpoint: strings.Repeat(big, 5)}}}, MaxRegisterNodeTxBytes},
		{"health report", &types.TxBody{Msg: &types.TxBody_HealthReport{HealthReport: &types.HealthReport{Window: 1,
			Observations: []types.Observation{{NodeId: "n1", FailingTaskIds: []string{strings.Repeat("y", 100<<10)}}}}}}, MaxHealthReportTxBytes},
	}
	for _, c := range over {
		raw := signedRaw(t, c.body)
		if len(raw) <= c.limit || len(raw) > MaxTxBytes {
			t.Fatalf("%s: test tx is %d bytes; want above %d and within MaxTxBytes", c.name, len(raw), c.limit)
		}
		_, err := DecodeTx(raw, sizeChain)
		if !errors.Is(err, ErrMsgTooLarge) || CodeOf(err) != 33 {
			t.Errorf("%s (%d bytes): err %v (code %d); want ErrMsgTooLarge (33)", c.name, len(raw), err, CodeOf(err))
		}
	}

	// The largest valid messages of the bounded types fit their limits.
	labels := make([]types.Label, MaxLabelsPerNode)
	for i := range labels {
		labels[i] = types.Label{Key: fmt.Sprintf("%0*d", MaxLabelKeyLen, i), Value: strings.Repeat("v", MaxLabelValueLen)}
	}
	memo := strings.Repeat("m", MaxMemoBytes)
	fits := []struct {
		name  string
		body  *types.TxBody
		limit int
	}{
		{"drain", &types.TxBody{Memo: memo, Sequence: 1 << 62, TimeoutHeight: 1 << 62, Msg: &types.TxBody_DrainNode{DrainNode: &types.DrainNode{
			NodeId: strings.Repeat("n", MaxNodeIDLen), Reason: strings.Repeat("r", MaxReasonLen)}}}, MaxSmallMsgTxBytes},
		{"register", &types.TxBody{Memo: memo, Sequence: 1 << 62, Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{
			NodeId: strings.Repeat("n", MaxNodeIDLen), PubKey: make([]byte, PubKeyLen), Zone: strings.Repeat("z", MaxZoneLen),
			Labels: labels, Endpoint: strings.Repeat("e", MaxEndpointLen-5) + ":9100",
			Capacity: types.Resources{CpuMillis: MaxCPUMillis, MemoryMb: MaxMemoryMB}}}}, MaxRegisterNodeTxBytes},
		{"params", &types.TxBody{Memo: memo, Msg: &types.TxBody_UpdateParams{UpdateParams: &types.UpdateParams{Params: DefaultParams()}}}, MaxUpdateParamsTxBytes},
	}
	for _, c := range fits {
		raw := signedRaw(t, c.body)
		if len(raw) > c.limit {
			t.Errorf("%s: the largest valid tx is %d bytes; its limit is %d", c.name, len(raw), c.limit)
		}
		if _, err := DecodeTx(raw, sizeChain); errors.Is(err, ErrMsgTooLarge) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// TestHealthReportOfMaxObservationsFits: an observer's report naming
// MaxObservationsPerReport nodes (24-byte ids, a round trip time each)
// fits MaxHealthReportTxBytes and decodes.
func TestHealthReportOfMaxObservationsFits(t *testing.T) {
	obs := make([]types.Observation, MaxObservationsPerReport)
	for i := range obs {
		obs[i] = types.Observation{NodeId: fmt.Sprintf("worker-node-zone-a-%05d", i), Reachable: true, RttMs: 999}
	}
	raw := signedRaw(t, &types.TxBody{Sequence: 1 << 40, Msg: &types.TxBody_HealthReport{HealthReport: &types.HealthReport{Window: 1 << 40, Observations: obs}}})
	if len(raw) > MaxHealthReportTxBytes {
		t.Fatalf("a report of %d observations is %d bytes; the limit is %d", len(obs), len(raw), MaxHealthReportTxBytes)
	}
	if _, err := DecodeTx(raw, sizeChain); err != nil {
		t.Fatalf("report of %d observations (%d bytes): %v", len(obs), len(raw), err)
	}
	t.Logf("a report of %d observations with 24-byte node ids is %d bytes (limit %d)", len(obs), len(raw), MaxHealthReportTxBytes)
}

func TestIsHealthMsg(t *testing.T) {
	for _, c := range []struct {
		body *types.TxBody
		want bool
	}{
		{&types.TxBody{Msg: &types.TxBody_Heartbeat{Heartbeat: &types.Heartbeat{}}}, true},
		{&types.TxBody{Msg: &types.TxBody_HealthReport{HealthReport: &types.HealthReport{}}}, true},
		{&types.TxBody{Msg: &types.TxBody_ReportEquivocation{ReportEquivocation: &types.ReportEquivocation{}}}, true},
		{&types.TxBody{Msg: &types.TxBody_RegisterNode{RegisterNode: &types.RegisterNode{}}}, false},
		{&types.TxBody{Msg: &types.TxBody_UpdateWorkload{UpdateWorkload: &types.UpdateWorkload{}}}, false},
	} {
		if got := IsHealthMsg(c.body); got != c.want {
			t.Errorf("IsHealthMsg(%s) = %v; want %v", MsgName(c.body), got, c.want)
		}
	}
}

// TestLargestAttestFits: an Attest naming MaxAttestChanges nodes with the
// longest ids is within MaxAttestTxBytes and valid, so an observer never
// builds one the chain refuses for its size.
func TestLargestAttestFits(t *testing.T) {
	m := &types.Attest{Window: 1 << 40}
	for i := 0; i < MaxAttestChanges; i++ {
		id := fmt.Sprintf("%0*d", MaxNodeIDLen, i)
		if i%2 == 0 {
			m.Up = append(m.Up, id)
		} else {
			m.Withdraw = append(m.Withdraw, id)
		}
	}
	raw := signedRaw(t, &types.TxBody{Sequence: 1 << 40, Msg: &types.TxBody_Attest{Attest: m}})
	if len(raw) > MaxAttestTxBytes {
		t.Fatalf("the largest Attest is %d bytes; MaxAttestTxBytes is %d", len(raw), MaxAttestTxBytes)
	}
	if _, err := DecodeTx(raw, sizeChain); err != nil {
		t.Fatal(err)
	}
	m.Up = append(m.Up, "zz")
	if _, err := DecodeTx(signedRaw(t, &types.TxBody{Msg: &types.TxBody_Attest{Attest: m}}), sizeChain); CodeOf(err) != 12 {
		t.Fatalf("one id over MaxAttestChanges: err %v; want code 12", err)
	}
}
