package api

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/phalanx-bft/phalanx/types"
)

// Native fuzz targets of the api package's decoders (docs/testing.md,
// "Fuzzing"). Their seed corpora (testdata/fuzz/FuzzX and the f.Add calls)
// run with go test; make fuzz runs each target for a while.

// numbered fails t unless err is one of the package's numbered errors
// (other than ErrInternal, which means a bug) with a message.
func numbered(t *testing.T, err error, want ...*Error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("refusal %q (%T) carries no numbered code", err, err)
	}
	if e == ErrInternal || err.Error() == "" {
		t.Fatalf("refusal %q: code %d", err, e.Code)
	}
	for _, w := range want {
		if e == w {
			return
		}
	}
	if len(want) > 0 {
		t.Fatalf("refusal %q has code %d; want one of %v", err, e.Code, want)
	}
}

// FuzzWorkloadSpecJSON feeds bytes to ParseWorkloadSpecJSON, the decoder
// of `phalanxd tx workload create/update`. A refusal is a numbered
// ErrInvalidMessage; an accepted spec is valid JSON, passes
// ValidateWorkloadSpec again, and survives encode (NewSpecView) → decode
// unchanged, twice over (the encoding is stable).
func FuzzWorkloadSpecJSON(f *testing.F) {
	f.Add([]byte(`{"name":"web","command":"sleep","args":["3600"],"env":{"MODE":"prod"},"replicas":3,` +
		`"resources":{"cpu_millis":1000,"memory_mb":512},"spread_key":"zone","max_per_domain":1,"max_per_node":1,` +
		`"restart_policy":{"max_restarts":5,"backoff_base_ms":1000,"backoff_max_ms":60000},"max_unavailable":1,"priority":0}`))
	f.Add([]byte(`{"name":"a","command":"run","replicas":1,"resources":{"cpu_millis":100,"memory_mb":64}}`))
	f.Add([]byte(`{"name":"a","command":"run","replicas":1,"resources":{"cpu_millis":100,"memory_mb":64},` +
		`"constraints":[{"label":"zone","op":"in","value":"a,b"}],"rank":"spread"}`))
	f.Add([]byte(`{"name":"A","command":"run"}`))
	f.Add([]byte(`{"name":"a","unknown":1}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseWorkloadSpecJSON(b)
		if err != nil {
			numbered(t, err, ErrInvalidMessage)
			if s2, err2 := ParseWorkloadSpecJSON(b); err2 == nil || err2.Error() != err.Error() || !reflect.DeepEqual(s2, types.WorkloadSpec{}) {
				t.Fatalf("refusal not deterministic: %v then %v", err, err2)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted bytes that are not one JSON value: %q", b)
		}
		if err := ValidateWorkloadSpec(&s); err != nil {
			t.Fatalf("accepted spec fails validation: %v", err)
		}
		enc, err := json.Marshal(NewSpecView(s))
		if err != nil {
			t.Fatal(err)
		}
		s2, err := ParseWorkloadSpecJSON(enc)
		if err != nil {
			t.Fatalf("re-encoded spec %s refused: %v", enc, err)
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip changed the spec:\n%+v\n%+v", s, s2)
		}
		enc2, _ := json.Marshal(NewSpecView(s2))
		if string(enc) != string(enc2) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzHealthReport decodes bytes as an observer's HealthReport or
// Attest message (kind's low bit), then validates it as DecodeTx does
// (validateMsg). Checks: no panic; a refusal is numbered
// (ErrInvalidMessage); validation is deterministic; the message survives
// encode → decode unchanged, the re-encoding is stable, and its
// validation verdict does not change.
func FuzzHealthReport(f *testing.F) {
	add := func(kind uint8, m interface{ Marshal() ([]byte, error) }) {
		b, err := m.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(kind, b)
	}
	add(0, &types.HealthReport{Window: 7, Observations: []types.Observation{
		{NodeId: "n1", Reachable: true, RttMs: 3},
		{NodeId: "n2", Reachable: true, RttMs: 1, FailingTaskIds: []string{"web/0", "web/2"}},
		{NodeId: "n3"},
	}})
	add(0, &types.HealthReport{Window: 1, Observations: []types.Observation{{NodeId: "n1"}, {NodeId: "n1"}}})
	add(0, &types.HealthReport{Window: 1, Observations: []types.Observation{{NodeId: "n1", FailingTaskIds: []string{"web"}}}})
	add(1, &types.Attest{Window: 9, Up: []string{"n1", "n2"}, Withdraw: []string{"n3"}})
	add(1, &types.Attest{Window: 9, Up: []string{"n2", "n1"}})
	add(1, &types.Attest{Window: 9, Up: []string{"n1"}, Withdraw: []string{"n1"}})
	f.Add(uint8(0), []byte{0x12, 0x02, 0x0a})
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		decode := func(b []byte) (*types.TxBody, error) {
			body := &types.TxBody{ChainId: "fuzz"}
			if kind&1 == 0 {
				var m types.HealthReport
				if err := m.Unmarshal(b); err != nil {
					return nil, err
				}
				body.Msg = &types.TxBody_HealthReport{HealthReport: &m}
			} else {
				var m types.Attest
				if err := m.Unmarshal(b); err != nil {
					return nil, err
				}
				body.Msg = &types.TxBody_Attest{Attest: &m}
			}
			return body, nil
		}
		encode := func(body *types.TxBody) []byte {
			var enc []byte
			var err error
			if m := body.GetHealthReport(); m != nil {
				enc, err = m.Marshal()
			} else {
				enc, err = body.GetAttest().Marshal()
			}
			if err != nil {
				t.Fatalf("decoded message does not encode: %v", err)
			}
			return enc
		}
		body, err := decode(b)
		if err != nil {
			return
		}
		verr := validateMsg(body)
		if verr != nil {
			numbered(t, verr, ErrInvalidMessage)
		}
		if again := validateMsg(body); (again == nil) != (verr == nil) || (again != nil && again.Error() != verr.Error()) {
			t.Fatalf("validation not deterministic: %v then %v", verr, again)
		}
		enc := encode(body)
		body2, err := decode(enc)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(body), normalize(body2)) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", body.Msg, body2.Msg)
		}
		if enc2 := encode(body2); string(enc) != string(enc2) {
			t.Fatalf("encoding not stable: %x then %x", enc, enc2)
		}
		verr2 := validateMsg(body2)
		if (verr2 == nil) != (verr == nil) || (verr2 != nil && verr2.Error() != verr.Error()) {
			t.Fatalf("validation changed with the round trip: %v then %v", verr, verr2)
		}
	})
}

// normalize maps empty slices to nil, which protobuf does not tell apart.
func normalize(body *types.TxBody) *types.TxBody {
	out := &types.TxBody{ChainId: body.ChainId}
	switch m := body.Msg.(type) {
	case *types.TxBody_HealthReport:
		r := types.HealthReport{Window: m.HealthReport.Window}
		for _, o := range m.HealthReport.Observations {
			if len(o.FailingTaskIds) == 0 {
				o.FailingTaskIds = nil
			}
			r.Observations = append(r.Observations, o)
		}
		out.Msg = &types.TxBody_HealthReport{HealthReport: &r}
	case *types.TxBody_Attest:
		a := types.Attest{Window: m.Attest.Window}
		if len(m.Attest.Up) > 0 {
			a.Up = m.Attest.Up
		}
		if len(m.Attest.Withdraw) > 0 {
			a.Withdraw = m.Attest.Withdraw
		}
		out.Msg = &types.TxBody_Attest{Attest: &a}
	}
	return out
}
