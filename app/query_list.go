package app

import (
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// List queries answer one page: at most limit items in the list's order
// (nodes by id, workloads by name, tasks by workload then index, accounts
// and observers by address) after the cursor after=, and the cursor of
// the next page. Every parameter is checked (an empty value counts as
// absent): an unknown one, a repeated
// one, a limit out of 1..api.MaxQueryLimit, a malformed cursor or filter
// value is an ErrBadRequest, never an empty answer.

// listQuery is a list path's parameters, checked.
type listQuery struct {
	path    string
	limit   int
	after   string
	filters map[string]string
}

// listParam checks one filter's value; it may normalise it.
type listParam func(v string) (string, error)

// parseListQuery reads rawQuery for path: limit, after (checked by
// cursor) and the filters named in params.
func parseListQuery(path, rawQuery string, cursor listParam, params map[string]listParam) (listQuery, error) {
	q := listQuery{path: path, limit: api.DefaultQueryLimit, filters: map[string]string{}}
	values, err := url.ParseQuery(rawQuery)
	if err != nil {
		return q, api.Errorf(api.ErrBadRequest, "%s: query %q does not parse: %v", path, rawQuery, err)
	}
	for _, k := range sortedKeys(values) {
		vs := values[k]
		if len(vs) != 1 {
			return q, api.Errorf(api.ErrBadRequest, "%s: parameter %s given %d times; expected once", path, k, len(vs))
		}
		v := vs[0]
		if v == "" {
			continue // an empty value is no filter (and the default limit)
		}
		switch check, isFilter := params[k]; {
		case k == "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > api.MaxQueryLimit {
				return q, api.Errorf(api.ErrBadRequest, "%s: limit %q; expected a number in 1..%d", path, v, api.MaxQueryLimit)
			}
			q.limit = n
		case k == "after":
			if q.after, err = cursor(v); err != nil {
				return q, api.Errorf(api.ErrBadRequest, "%s: after %q: %v", path, v, err)
			}
		case isFilter:
			if q.filters[k], err = check(v); err != nil {
				return q, api.Errorf(api.ErrBadRequest, "%s: %s %q: %v", path, k, v, err)
			}
		default:
			return q, api.Errorf(api.ErrBadRequest, "%s: unknown parameter %q; expected %s", path, k, strings.Join(paramNames(params), ", "))
		}
	}
	return q, nil
}

func paramNames(params map[string]listParam) []string {
	return append([]string{"limit", "after"}, sortedKeys(params)...)
}

// noParams rejects any parameter on a path that takes none.
func noParams(path, rawQuery string) error {
	if rawQuery != "" {
		return api.Errorf(api.ErrBadRequest, "%s takes no parameters; got %q", path, rawQuery)
	}
	return nil
}

func nameParam(what string, max int) listParam {
	return func(v string) (string, error) { return v, api.ValidName(what, v, max) }
}

func addrParam(v string) (string, error) {
	addr, ok := api.ParseAddrHex(v)
	if !ok {
		return "", api.Errorf(api.ErrBadRequest, "not an address (%d bytes of hex)", api.AddressLen)
	}
	return addrHex(addr), nil
}

func taskIDParam(v string) (string, error) {
	_, _, err := api.ParseTaskID(v)
	return v, err
}

func nodeStateParam(v string) (string, error) {
	st, ok := api.ParseNodeState(v)
	if !ok {
		return "", api.Errorf(api.ErrBadRequest, "not a node state; expected Ready, Suspect, Down, Partitioned or Quarantined")
	}
	return api.NodeStateName(st), nil
}

func taskStateParam(v string) (string, error) {
	st, ok := api.ParseTaskState(v)
	if !ok {
		return "", api.Errorf(api.ErrBadRequest, "not a task state; expected Pending, Assigned, Running, Failed or Completed")
	}
	return api.TaskStateName(st), nil
}

func zoneParam(v string) (string, error) {
	if v == "" || len(v) > api.MaxZoneLen {
		return "", api.Errorf(api.ErrBadRequest, "expected a zone of 1..%d characters", api.MaxZoneLen)
	}
	return v, nil
}

func roleParam(v string) (string, error) {
	r, ok := api.ParseRole(v)
	if !ok {
		return "", api.Errorf(api.ErrBadRequest, "not a role; expected admin, operator, observer or node")
	}
	return api.RoleName(r), nil
}

// page collects up to limit items and notes whether one more matched.
type page[T any] struct {
	limit int
	items []T
	last  string // cursor of the last item taken
	more  bool
}

// add takes an item unless the page is full; it reports whether the
// caller should go on (false once one more item than fits was seen).
func (p *page[T]) add(item T, cursor string) bool {
	if len(p.items) == p.limit {
		p.more = true
		return false
	}
	p.items = append(p.items, item)
	p.last = cursor
	return true
}

func (p *page[T]) next() string {
	if p.more {
		return p.last
	}
	return ""
}

// keyCache holds a map's sorted keys as of a touch count: the query view
// answers many pages between two blocks, and sorting 100,000 account
// addresses for each would cost more than the page. Any touch (a record
// changed) makes it stale; so does a different size.
type keyCache struct {
	touches uint64
	size    int
	keys    []string
}

// cachedSortedKeys returns m's sorted keys, from c while nothing was
// touched since it was filled. The keys are deterministic either way: the
// cache only saves the sort.
func cachedSortedKeys[V any](s *State, c *keyCache, m map[string]V) []string {
	if c.keys == nil || c.touches != s.touches || c.size != len(m) {
		c.keys, c.touches, c.size = sortedKeys(m), s.touches, len(m)
	}
	return c.keys
}

// startAfter is the index of the first element of sorted that is greater
// than after ("" starts at 0).
func startAfter(sorted []string, after string) int {
	if after == "" {
		return 0
	}
	return sort.Search(len(sorted), func(i int) bool { return sorted[i] > after })
}

func (s *State) queryNodes(rawQuery string) ([]byte, error) {
	q, err := parseListQuery("/nodes", rawQuery, nameParam("after", api.MaxNodeIDLen),
		map[string]listParam{"state": nodeStateParam, "zone": zoneParam})
	if err != nil {
		return nil, err
	}
	state, zone := q.filters["state"], q.filters["zone"]
	p := page[api.NodeView]{limit: q.limit, items: []api.NodeView{}}
	for _, id := range s.nodeIDs[startAfter(s.nodeIDs, q.after):] {
		n := s.nodes[id]
		if state != "" && api.NodeStateName(n.State) != state || zone != "" && n.Zone != zone {
			continue
		}
		if !p.add(s.nodeView(n), id) {
			break
		}
	}
	return mustJSON(api.NodesAnswer{Height: s.height, Nodes: p.items, Next: p.next()}), nil
}

func (s *State) queryWorkloads(rawQuery string) ([]byte, error) {
	q, err := parseListQuery("/workloads", rawQuery, nameParam("after", api.MaxWorkloadNameLen), nil)
	if err != nil {
		return nil, err
	}
	names := cachedSortedKeys(s, &s.sortedWorkloads, s.workloads)
	p := page[api.WorkloadView]{limit: q.limit, items: []api.WorkloadView{}}
	for _, name := range names[startAfter(names, q.after):] {
		if !p.add(s.workloadView(s.workloads[name]), name) {
			break
		}
	}
	return mustJSON(api.WorkloadsAnswer{Height: s.height, Workloads: p.items, Next: p.next()}), nil
}

func (s *State) queryTasks(rawQuery string) ([]byte, error) {
	q, err := parseListQuery("/tasks", rawQuery, taskIDParam, map[string]listParam{
		"workload": nameParam("workload", api.MaxWorkloadNameLen),
		"node":     nameParam("node", api.MaxNodeIDLen),
		"state":    taskStateParam,
	})
	if err != nil {
		return nil, err
	}
	workload, node, state := q.filters["workload"], q.filters["node"], q.filters["state"]
	afterW, afterI := "", uint32(0)
	if q.after != "" {
		afterW, afterI, _ = api.ParseTaskID(q.after)
	}
	// beyond: t comes after the cursor in (workload, index) order.
	beyond := func(t *types.Task) bool {
		return q.after == "" || t.Workload > afterW || t.Workload == afterW && t.Index > afterI
	}
	p := page[api.TaskView]{limit: q.limit, items: []api.TaskView{}}
	take := func(t *types.Task) bool {
		if !beyond(t) || node != "" && t.Node != node || state != "" && api.TaskStateName(t.State) != state {
			return true
		}
		return p.add(api.TaskRecordView(t), t.Id)
	}
	switch {
	case workload != "":
		for _, t := range s.tasksOf(workload) {
			if !take(t) {
				break
			}
		}
	case node != "":
		var on []*types.Task
		for _, id := range sortedKeys(s.tasksByNode[node]) {
			on = append(on, s.tasks[id])
		}
		sort.Slice(on, func(i, j int) bool {
			if on[i].Workload != on[j].Workload {
				return on[i].Workload < on[j].Workload
			}
			return on[i].Index < on[j].Index
		})
		for _, t := range on {
			if !take(t) {
				break
			}
		}
	default:
		names := cachedSortedKeys(s, &s.sortedWorkloads, s.workloads)
		start := sort.SearchStrings(names, afterW) // the cursor's workload, if it still exists
	outer:
		for _, name := range names[start:] {
			for _, t := range s.tasksOf(name) {
				if !take(t) {
					break outer
				}
			}
		}
	}
	return mustJSON(api.TasksAnswer{Height: s.height, Tasks: p.items, Next: p.next()}), nil
}

func (s *State) queryAccounts(rawQuery string) ([]byte, error) {
	q, err := parseListQuery("/accounts", rawQuery, addrParam, map[string]listParam{"role": roleParam})
	if err != nil {
		return nil, err
	}
	role := q.filters["role"]
	keys := cachedSortedKeys(s, &s.sortedAccounts, s.accounts)
	p := page[api.AccountView]{limit: q.limit, items: []api.AccountView{}}
	for _, k := range keys[startAfter(keys, q.after):] {
		v := api.AccountRecordView(s.accounts[k])
		if role != "" && !slices.Contains(v.Roles, role) {
			continue
		}
		if !p.add(v, k) {
			break
		}
	}
	return mustJSON(api.AccountsAnswer{Height: s.height, Accounts: p.items, Next: p.next()}), nil
}

func (s *State) queryObservers(rawQuery string) ([]byte, error) {
	q, err := parseListQuery("/observers", rawQuery, addrParam, nil)
	if err != nil {
		return nil, err
	}
	active := s.activeObservers()
	p := page[api.ObserverView]{limit: q.limit, items: []api.ObserverView{}}
	for _, k := range s.observerIDs[startAfter(s.observerIDs, q.after):] {
		a := s.accounts[k]
		if !p.add(api.ObserverView{AccountView: api.AccountRecordView(a), Active: s.activeObserver(a)}, k) {
			break
		}
	}
	return mustJSON(api.ObserversAnswer{Height: s.height, Active: active, Quorum: s.quorumSize(active), Observers: p.items, Next: p.next()}), nil
}
