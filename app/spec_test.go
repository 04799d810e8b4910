package app

import (
	"reflect"
	"strings"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

const webSpec = `{
  "name": "web",
  "command": "sleep", "args": ["3600"], "env": {"MODE": "prod", "DEBUG": "0"},
  "replicas": 3,
  "resources": {"cpu_millis": 1000, "memory_mb": 512},
  "constraints": [{"label": "disk", "op": "=", "value": "ssd"}],
  "spread_key": "zone", "max_per_domain": 1, "max_per_node": 1,
  "restart_policy": {"max_restarts": 5, "backoff_base_ms": 1000, "backoff_max_ms": 60000},
  "max_unavailable": 1,
  "priority": 0
}`

func TestParseWorkloadSpecJSON(t *testing.T) {
	s, err := api.ParseWorkloadSpecJSON([]byte(webSpec))
	if err != nil {
		t.Fatal(err)
	}
	want := types.WorkloadSpec{
		Name: "web", Command: "sleep", Args: []string{"3600"},
		Env:         []types.EnvVar{{Name: "DEBUG", Value: "0"}, {Name: "MODE", Value: "prod"}},
		Replicas:    3,
		Resources:   types.Resources{CpuMillis: 1000, MemoryMb: 512},
		Constraints: []types.Constraint{{Label: "disk", Op: "=", Value: "ssd"}},
		SpreadKey:   "zone", MaxPerDomain: 1, MaxPerNode: 1,
		RestartPolicy:  types.RestartPolicy{MaxRestarts: 5, BackoffBaseMs: 1000, BackoffMaxMs: 60000},
		MaxUnavailable: 1,
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("spec =\n%+v\nwant\n%+v", s, want)
	}
	// The view round-trips to the same spec.
	back, err := api.ParseWorkloadSpecJSON(mustJSON(api.NewSpecView(s)))
	if err != nil || !reflect.DeepEqual(back, s) {
		t.Errorf("round trip: %v\n%+v", err, back)
	}
	for _, bad := range []string{
		`{"name": "web", "command": "x", "replicas": 1, "resources": {"cpu_millis": 1, "memory_mb": 1}, "image": "nginx"}`,
		`{"name": "web", "command": "x", "replicas": 1, "resources": {"cpu_millis": 1, "memory_mb": 1}, "env": {"1BAD": "x"}}`,
		`{"name": "web", "command": "", "replicas": 1, "resources": {"cpu_millis": 1, "memory_mb": 1}}`,
		`{"name": "web", "command": "x", "replicas": 1, "resources": {"cpu_millis": 1, "memory_mb": 1}, "rank": "random"}`,
		`{"name": "web"`,
	} {
		if _, err := api.ParseWorkloadSpecJSON([]byte(bad)); err == nil || api.CodeOf(err) != api.ErrInvalidMessage.Code {
			t.Errorf("ParseWorkloadSpecJSON(%s) = %v; want an invalid-message error", bad, err)
		}
	}
}

// TestSpecDiffCoversEveryField changes each field of WorkloadSpec in turn
// and requires specDiff to name it: a field added to the proto and
// forgotten in specDiff would make a changed spec look "unchanged".
func TestSpecDiffCoversEveryField(t *testing.T) {
	base, err := api.ParseWorkloadSpecJSON([]byte(webSpec))
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeOf(base)
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if strings.HasPrefix(f.Name, "XXX") {
			continue
		}
		changed := base
		changed.Args = append([]string(nil), base.Args...)
		changed.Env = append([]types.EnvVar(nil), base.Env...)
		changed.Constraints = append([]types.Constraint(nil), base.Constraints...)
		mutate(reflect.ValueOf(&changed).Elem().Field(i))
		if d := specDiff(&base, &changed); len(d) == 0 {
			t.Errorf("specDiff does not notice a change of %s", f.Name)
		}
	}
	if d := specDiff(&base, &base); len(d) != 0 {
		t.Errorf("specDiff(x, x) = %v", d)
	}
}

// mutate changes a value to something different.
func mutate(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Append(v, reflect.New(v.Type().Elem()).Elem()))
		}
		mutate(v.Index(0))
	case reflect.Struct:
		mutate(v.Field(0))
	default:
		panic("mutate: unhandled kind " + v.Kind().String())
	}
}

func TestStoreKeyForPath(t *testing.T) {
	addr := api.AddrHex(testAddr("a"))
	cases := map[string]string{
		"/nodes/n1":                          "nodes/n1",
		"/workloads/web":                     "workloads/web",
		"/accounts/" + strings.ToLower(addr): "accounts/" + addr,
		"/validators/" + addr:                "validators/" + addr,
		"/params":                            "params",
		"/blockinfo":                         "blockinfo",
		"/tasks/web/3":                       "tasks/web/3",
		"/nodes":                             "",
		"/nodes/N1":                          "",
		"/accounts/xyz":                      "",
		"/tasks/web/x":                       "",
		"/summary":                           "",
	}
	for path, want := range cases {
		got, ok := StoreKeyForPath(path)
		if ok != (want != "") || string(got) != want {
			t.Errorf("StoreKeyForPath(%q) = %q, %v; want %q", path, got, ok, want)
		}
		// The client checks that a proof is for the key it asked about by
		// taking the canonical path without its slashes (client.recordKey).
		if ok && path != "/accounts/"+strings.ToLower(addr) && strings.Trim(path, "/") != want {
			t.Errorf("canonical path %q is stored under %q, not under the path without slashes: client.recordKey must change", path, want)
		}
	}
}
