package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/client"
)

// pageFlags are a list query's --limit, --after and --all.
type pageFlags struct {
	limit int
	after string
	all   bool
}

func (p *pageFlags) register(cmd *cobra.Command) {
	cmd.Flags().IntVar(&p.limit, "limit", 0, fmt.Sprintf("at most this many items (1..%d; default %d, the node's page size)", api.MaxQueryLimit, api.DefaultQueryLimit))
	cmd.Flags().StringVar(&p.after, "after", "", "start after this item (the \"next\" cursor of the previous page)")
	cmd.Flags().BoolVar(&p.all, "all", false, fmt.Sprintf("read every page (%d items a query) and print them as one list", api.MaxQueryLimit))
}

func (p *pageFlags) check() error {
	switch {
	case p.limit < 0 || p.limit > api.MaxQueryLimit:
		return fmt.Errorf("invalid --limit %d: expected 1..%d", p.limit, api.MaxQueryLimit)
	case p.all && p.limit != 0:
		return fmt.Errorf("--all reads every page (%d items a query); it takes no --limit", api.MaxQueryLimit)
	}
	return nil
}

// queryPaged runs a list query: one page (--limit, --after), or with --all
// every page, merge adding each to one answer. JSON is printed as the node
// returned it (one page, with its "next" cursor) or as the merged answer;
// text by render, with a line on standard error naming the next page's
// cursor.
func queryPaged[T any, P interface {
	*T
	client.Pager
}](cmd *cobra.Command, f *nodeFlags, pf *pageFlags, path string, filters url.Values,
	merge func(all, page P), render func(w io.Writer, ans P) error) error {
	if err := pf.check(); err != nil {
		return err
	}
	return runQuery(cmd, f, func(ctx context.Context, c *client.Client) error {
		out := cmd.OutOrStdout()
		var ans T
		if pf.all {
			if _, err := client.QueryAll[T, P](ctx, c, path, filters, pf.after, func(page P) { merge(&ans, page) }); err != nil {
				return err
			}
			if f.output == outputJSON {
				return writeJSON(out, &ans)
			}
			return render(out, &ans)
		}
		p := client.ListPath(path, filters, pf.limit, pf.after)
		raw, _, err := c.QueryRaw(ctx, p)
		if err != nil {
			return err
		}
		if f.output == outputJSON {
			return writeRawJSON(out, raw)
		}
		if err := json.Unmarshal(raw, &ans); err != nil {
			return fmt.Errorf("query %s: decode answer: %w", p, err)
		}
		if err := render(out, &ans); err != nil {
			return err
		}
		if next := P(&ans).NextCursor(); next != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "More: the next page starts after %s (--after %s), or --all reads every page.\n", next, next)
		}
		return nil
	})
}

// The merges of --all. Pages are read one query each: the merged answer's
// height is the last page's; its next cursor stays "".

func mergeNodes(a, p *api.NodesAnswer) {
	a.Height, a.Nodes = p.Height, append(orEmpty(a.Nodes), p.Nodes...)
}
func mergeTasks(a, p *api.TasksAnswer) {
	a.Height, a.Tasks = p.Height, append(orEmpty(a.Tasks), p.Tasks...)
}
func mergeWorkloads(a, p *api.WorkloadsAnswer) {
	a.Height, a.Workloads = p.Height, append(orEmpty(a.Workloads), p.Workloads...)
}
func mergeAccounts(a, p *api.AccountsAnswer) {
	a.Height, a.Accounts = p.Height, append(orEmpty(a.Accounts), p.Accounts...)
}
func mergeObservers(a, p *api.ObserversAnswer) {
	a.Height, a.Active, a.Quorum = p.Height, p.Active, p.Quorum
	a.Observers = append(orEmpty(a.Observers), p.Observers...)
}

// orEmpty makes a merged list print as [] rather than null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
