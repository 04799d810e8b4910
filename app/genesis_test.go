package app

import (
	"bytes"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

func TestParseGenesisEmpty(t *testing.T) {
	for _, in := range []string{"", "  ", "null", " null\n"} {
		g, err := api.ParseGenesis([]byte(in))
		if err != nil {
			t.Fatalf("ParseGenesis(%q): %v", in, err)
		}
		if !reflect.DeepEqual(g.Params, api.DefaultParams()) || len(g.Accounts) != 0 {
			t.Errorf("ParseGenesis(%q) = %+v; want default params, no accounts", in, g)
		}
	}
}

func TestParseGenesisFillsMissingParams(t *testing.T) {
	g, err := api.ParseGenesis([]byte(`{"params": {"max_placements_per_block": 7, "open_registration": true}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := api.DefaultParams()
	want.MaxPlacementsPerBlock = 7
	want.OpenRegistration = true
	if !reflect.DeepEqual(g.Params, want) {
		t.Errorf("params = %+v; want %+v", g.Params, want)
	}
}

func TestGenesisRoundTrip(t *testing.T) {
	g := &api.Genesis{Params: api.DefaultParams(), Accounts: []types.GenesisAccount{
		{Address: testAddr("admin"), PubKey: testPub("admin"), Roles: []types.Role{types.ROLE_ADMIN, types.ROLE_OPERATOR}},
		{Address: testAddr("obs"), Roles: []types.Role{types.ROLE_OBSERVER}, ValidatorAddress: testAddr("val")},
	}}
	g.Params.PartitionPolicy = api.PartitionEvict
	js, err := g.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"roles":["admin","operator"]`) || !strings.Contains(string(js), addrHex(testAddr("obs"))) {
		t.Errorf("unexpected JSON: %s", js)
	}
	if !strings.Contains(string(js), base64.StdEncoding.EncodeToString(testPub("admin"))) {
		t.Errorf("pub_key is not base64 in %s", js)
	}
	if !strings.Contains(string(js), `"validator_address":"`+addrHex(testAddr("val"))+`"`) {
		t.Errorf("validator_address is not upper-case hex in %s", js)
	}
	back, err := api.ParseGenesis(js)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, g) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, g)
	}
}

func TestParseGenesisErrors(t *testing.T) {
	admin := addrHex(testAddr("admin"))
	otherPub := base64.StdEncoding.EncodeToString(testPub("other"))
	cases := []struct{ in, want string }{
		{`{"params": {"bogus": 1}}`, `unknown field "bogus"`},
		{`{"accounts": [], "extra": 1}`, `unknown field "extra"`},
		{`{"params": {"phi_window": 0}}`, "phi_window is 0"},
		{`{"accounts": [{"address": "XYZ", "roles": []}]}`, `address "XYZ"`},
		{`{"accounts": [{"address": "` + admin + `", "roles": ["king"]}]}`, `unknown role "king"`},
		{`{"accounts": [{"address": "` + admin + `", "roles": ["admin", "admin"]}]}`, "listed twice"},
		{`{"accounts": [{"address": "` + admin + `", "roles": []}, {"address": "` + strings.ToLower(admin) + `", "roles": []}]}`, "listed twice"},
		{`{"accounts": [{"address": "` + admin + `", "pub_key": "` + otherPub + `", "roles": []}]}`, "belongs to address"},
		{`{"accounts": [] } {}`, "trailing data"},
		{`{"accounts": [] } ]`, "trailing data"}, // json.Decoder.More is false at ']' (FuzzGenesis)
		{`{"accounts": [{"address": "` + admin + `", "roles": ["observer"], "validator_address": "ABC"}]}`, `validator_address "ABC" is not 20 bytes`},
		{`{"accounts": [{"address": "` + admin + `", "roles": ["observer"], "validator_address": "` + admin + `"}, {"address": "` + addrHex(testAddr("b")) + `", "roles": [], "validator_address": "` + strings.ToLower(admin) + `"}]}`, "name the same validator_address"},
		{`{"params": {"phi_threshold_milli": 500}}`, "phi_threshold_milli is 500; want 1000..100000"},
		{`{"params": {"max_clock_step_ms": 10}}`, "max_clock_step_ms is 10"},
		{`{"params": {"reputation_max": 0}}`, "reputation_max is 0"},
	}
	for _, c := range cases {
		_, err := api.ParseGenesis([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseGenesis(%s) = %v; want an error containing %q", c.in, err, c.want)
			continue
		}
		if !errors.Is(err, api.ErrBadGenesis) && !errors.Is(err, api.ErrInvalidParams) {
			t.Errorf("ParseGenesis(%s) error %v is neither ErrBadGenesis nor ErrInvalidParams", c.in, err)
		}
	}
}

func TestNewStateWritesEveryGenesisRecord(t *testing.T) {
	g := &api.Genesis{Params: api.DefaultParams(), Accounts: []types.GenesisAccount{
		{Address: testAddr("b"), Roles: []types.Role{types.ROLE_OPERATOR}},
		{Address: testAddr("a"), Roles: []types.Role{types.ROLE_NODE, types.ROLE_ADMIN}},
	}}
	s, err := NewState(testChainID, g)
	if err != nil {
		t.Fatal(err)
	}
	s.SetValidators([]ValidatorUpdate{{PubKey: testPub("v"), Power: 3}})
	ch := s.TakeChanges()
	var keys []string
	for i, kv := range ch {
		keys = append(keys, string(kv.Key))
		if i > 0 && bytes.Compare(ch[i-1].Key, kv.Key) >= 0 {
			t.Errorf("changes not sorted: %q before %q", ch[i-1].Key, kv.Key)
		}
	}
	want := []string{
		"accounts/" + addrHex(testAddr("a")), "accounts/" + addrHex(testAddr("b")), "params",
		"validators/" + addrHex(testAddr("v")),
	}
	if addrHex(testAddr("a")) > addrHex(testAddr("b")) {
		want[0], want[1] = want[1], want[0]
	}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("genesis keys = %v; want %v", keys, want)
	}
	if again := s.TakeChanges(); len(again) != 0 {
		t.Errorf("second TakeChanges returned %d records; want none", len(again))
	}
	var acc types.Account
	for _, kv := range ch {
		if string(kv.Key) == "accounts/"+addrHex(testAddr("a")) {
			if err := acc.Unmarshal(kv.Value); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !reflect.DeepEqual(acc.Roles, []types.Role{types.ROLE_ADMIN, types.ROLE_NODE}) {
		t.Errorf("roles = %v; want sorted [admin node]", acc.Roles)
	}
	if _, err := NewState("", g); err == nil {
		t.Error("NewState with an empty chain id succeeded")
	}
}

func TestLoadStateRejectsBadRecords(t *testing.T) {
	s, _ := NewState(testChainID, nil)
	good := s.TakeChanges()
	cases := map[string][]KV{
		"no params":    nil,
		"unknown key":  append(append([]KV{}, good...), KV{Key: []byte("zzz"), Value: []byte{}}),
		"garbage":      {{Key: []byte("params"), Value: []byte{0xff}}},
		"wrong key":    append(append([]KV{}, good...), KV{Key: []byte("nodes/x"), Value: mustMarshal(&types.Node{Id: "y"})}),
		"orphan task":  append(append([]KV{}, good...), KV{Key: []byte("tasks/web/0"), Value: mustMarshal(&types.Task{Id: "web/0", Workload: "web", State: types.TASK_PENDING})}),
		"nil value":    {{Key: []byte("params"), Value: nil}},
		"block height": append(append([]KV{}, good...), KV{Key: []byte("blockinfo"), Value: mustMarshal(&types.BlockInfo{Height: 5, TimeMs: 1, ClockMs: 1})}),
	}
	for name, kvs := range cases {
		if _, err := LoadState(testChainID, 3, kvs); err == nil {
			t.Errorf("%s: LoadState succeeded", name)
		}
	}
	if _, err := LoadState(testChainID, 0, good); err != nil {
		t.Errorf("LoadState(genesis records): %v", err)
	}
}

func mustMarshal(m marshaler) []byte {
	b, err := m.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}
