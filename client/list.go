package client

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/phalanx-bft/phalanx/api"
)

// List queries (/nodes, /tasks, /workloads, /accounts, /observers) answer
// one page at a time: at most limit items after a cursor, and the cursor
// of the next page (api.NodesAnswer.Next, …). ListPath builds a page's
// path; QueryAll reads every page.

// Pager is a list answer (*api.NodesAnswer, *api.TasksAnswer, …).
type Pager interface{ NextCursor() string }

// maxPages bounds QueryAll: no list holds more items than the state
// (api.MaxTasksTotal is the longest), so more pages than this mean the
// cursors do not advance.
const maxPages = api.MaxTasksTotal/api.MaxQueryLimit + 2

// ListPath is a list path with its filters and one page: limit items (0:
// the node's default, api.DefaultQueryLimit) after the cursor after (""
// from the start).
func ListPath(path string, filters url.Values, limit int, after string) string {
	q := url.Values{}
	for k, vs := range filters {
		for _, v := range vs {
			if v != "" {
				q.Add(k, v)
			}
		}
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if after != "" {
		q.Set("after", after)
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode() // Encode sorts by key
}

// QueryAll reads every page of the list path (with filters) after the
// cursor after ("" from the start), api.MaxQueryLimit items at a time, and
// hands each page to each. It returns the height of
// the last page: pages are read one query each, so they may come from
// different heights while blocks commit (each page is consistent in
// itself; an item that moves across the cursor between two pages can be
// missed or seen twice).
func QueryAll[T any, P interface {
	*T
	Pager
}](ctx context.Context, c *Client, path string, filters url.Values, after string, each func(page P)) (int64, error) {
	for i := 0; i < maxPages; i++ {
		var page T
		height, err := c.Query(ctx, ListPath(path, filters, api.MaxQueryLimit, after), &page)
		if err != nil {
			return height, err
		}
		each(&page)
		next := P(&page).NextCursor()
		if next == "" {
			return height, nil
		}
		if next == after {
			return height, fmt.Errorf("query %s: the next cursor %q does not advance", path, next)
		}
		after = next
	}
	return 0, fmt.Errorf("query %s: more than %d pages", path, maxPages)
}

// Nodes returns every node that matches filters (state, zone), reading
// every page.
func (c *Client) Nodes(ctx context.Context, filters url.Values) (api.NodesAnswer, error) {
	all := api.NodesAnswer{Nodes: []api.NodeView{}}
	h, err := QueryAll(ctx, c, "/nodes", filters, "", func(p *api.NodesAnswer) { all.Nodes = append(all.Nodes, p.Nodes...) })
	all.Height = h
	return all, err
}

// Tasks returns every task that matches filters (workload, node, state),
// reading every page.
func (c *Client) Tasks(ctx context.Context, filters url.Values) (api.TasksAnswer, error) {
	all := api.TasksAnswer{Tasks: []api.TaskView{}}
	h, err := QueryAll(ctx, c, "/tasks", filters, "", func(p *api.TasksAnswer) { all.Tasks = append(all.Tasks, p.Tasks...) })
	all.Height = h
	return all, err
}
