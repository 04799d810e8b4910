package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/phalanx-bft/phalanx/api"
)

// fuzzQuery is the state FuzzQueryPath queries, built once per process
// (newQueryState: 23 nodes in 3 zones, two Down, 43 tasks).
var fuzzQuery struct {
	once sync.Once
	s    *State
}

// FuzzQueryPath asks State.Query (the JSON paths of abci_query) for an
// arbitrary path and query string (joined by '?' when the query is not
// empty), against a state with nodes, workloads, tasks and accounts.
// Checks: no panic; the same answer (bytes or error) twice; an answer is
// valid JSON; an error is a numbered ErrNotFound or ErrBadRequest with a
// message; a list's next cursor, given back as after=, is accepted;
// StoreKeyForPath (the proven queries' mapping) is deterministic and maps
// only to a key under a record prefix.
func FuzzQueryPath(f *testing.F) {
	for _, s := range [][2]string{
		{"/nodes", ""}, {"/nodes", "state=Down&zone=z1&limit=2"}, {"/nodes", "after=n05"}, {"/nodes/n01", ""},
		{"/workloads", "limit=1"}, {"/workloads/db", ""}, {"/tasks", "workload=web&state=Running"},
		{"/tasks", "node=n03"}, {"/tasks/web/7", ""}, {"/accounts", "role=observer"}, {"/observers", ""},
		{"/validators", ""}, {"/params", ""}, {"/summary", ""}, {"/zones", ""},
		{"/nodes", "limit=0"}, {"/nodes", "state=Up&state=Down"}, {"/nodes", "%zz"}, {"/accounts/zz", ""},
		{"//nodes//", ""}, {"/tasks/web", ""}, {"/unknown", ""}, {"/summary", "x=1"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, path, rawQuery string) {
		fuzzQuery.once.Do(func() { fuzzQuery.s = newQueryState(t) })
		s := fuzzQuery.s
		if s == nil {
			t.Fatal("no query state")
		}
		full := path
		if rawQuery != "" {
			full += "?" + rawQuery
		}
		out, err := s.Query(full)
		out2, err2 := s.Query(full)
		if !bytes.Equal(out, out2) || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("%q answered differently twice:\n%s %v\n%s %v", full, out, err, out2, err2)
		}
		if err != nil {
			var e *api.Error
			if !errors.As(err, &e) || (e != api.ErrNotFound && e != api.ErrBadRequest) || err.Error() == "" {
				t.Fatalf("%q: error %q (code %d); want a numbered not found or bad request", full, err, api.CodeOf(err))
			}
		} else {
			if !json.Valid(out) {
				t.Fatalf("%q: answer is not JSON: %q", full, out)
			}
			var page struct {
				Next string `json:"next"`
			}
			if json.Unmarshal(out, &page) == nil && page.Next != "" {
				p, _, _ := strings.Cut(full, "?")
				if _, err := s.Query(p + "?after=" + url.QueryEscape(page.Next)); err != nil {
					t.Fatalf("%q: next cursor %q refused: %v", full, page.Next, err)
				}
			}
		}
		k1, ok1 := StoreKeyForPath(full)
		k2, ok2 := StoreKeyForPath(full)
		if ok1 != ok2 || !bytes.Equal(k1, k2) {
			t.Fatalf("StoreKeyForPath(%q) not deterministic", full)
		}
		if ok1 {
			known := false
			for i := range recordTypes {
				if rt := &recordTypes[i]; rt.path != "" && bytes.HasPrefix(k1, []byte(rt.key)) {
					known = true
				}
			}
			if !known || len(k1) == 0 {
				t.Fatalf("StoreKeyForPath(%q) = %q: not under a record's key", full, k1)
			}
		}
	})
}
