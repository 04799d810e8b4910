package app

import (
	"fmt"
	"slices"
	"strings"

	"github.com/phalanx-bft/phalanx/api"
	"github.com/phalanx-bft/phalanx/types"
)

// specDiff names every field in which a and b differ, as "field: a != b".
// It covers every field of WorkloadSpec; an empty result means equal.
func specDiff(a, b *types.WorkloadSpec) []string {
	var d []string
	add := func(field string, x, y any) {
		xs, ys := fmt.Sprint(x), fmt.Sprint(y)
		if xs != ys {
			d = append(d, fmt.Sprintf("%s: %s != %s", field, xs, ys))
		}
	}
	add("name", a.Name, b.Name)
	add("command", fmt.Sprintf("%q", a.Command), fmt.Sprintf("%q", b.Command))
	add("args", fmt.Sprintf("%q", a.Args), fmt.Sprintf("%q", b.Args))
	add("env", envString(a.Env), envString(b.Env))
	add("replicas", a.Replicas, b.Replicas)
	add("resources.cpu_millis", a.Resources.CpuMillis, b.Resources.CpuMillis)
	add("resources.memory_mb", a.Resources.MemoryMb, b.Resources.MemoryMb)
	add("constraints", constraintsString(a.Constraints), constraintsString(b.Constraints))
	add("spread_key", fmt.Sprintf("%q", a.SpreadKey), fmt.Sprintf("%q", b.SpreadKey))
	add("max_per_domain", a.MaxPerDomain, b.MaxPerDomain)
	add("max_per_node", a.MaxPerNode, b.MaxPerNode)
	add("restart_policy.max_restarts", a.RestartPolicy.MaxRestarts, b.RestartPolicy.MaxRestarts)
	add("restart_policy.backoff_base_ms", a.RestartPolicy.BackoffBaseMs, b.RestartPolicy.BackoffBaseMs)
	add("restart_policy.backoff_max_ms", a.RestartPolicy.BackoffMaxMs, b.RestartPolicy.BackoffMaxMs)
	add("max_unavailable", a.MaxUnavailable, b.MaxUnavailable)
	add("priority", a.Priority, b.Priority)
	add("max_skew", a.MaxSkew, b.MaxSkew)
	add("rank", fmt.Sprintf("%q", a.Rank), fmt.Sprintf("%q", b.Rank))
	add("type", typeName(a.Type), typeName(b.Type))
	add("parallelism", a.Parallelism, b.Parallelism)
	add("replace_order", replaceOrderName(a.ReplaceOrder), replaceOrderName(b.ReplaceOrder))
	add("checks", checksString(a.Checks), checksString(b.Checks))
	add("min_healthy_ms", a.MinHealthyMs, b.MinHealthyMs)
	add("disconnect.lost_after_ms", a.Disconnect.LostAfterMs, b.Disconnect.LostAfterMs)
	add("disconnect.reconcile", reconcileName(a.Disconnect.Reconcile), reconcileName(b.Disconnect.Reconcile))
	return d
}

// reconcileName is the user's name of a spec's disconnect.reconcile.
func reconcileName(r string) string {
	if r == "" {
		return api.KeepReplacement
	}
	return r
}

// replaceOrderName is the user's name of a spec's replace_order.
func replaceOrderName(o string) string {
	if o == "" {
		return api.StopFirst
	}
	return o
}

// templateChanged reports whether b changes what a task of a runs or
// holds: command, args, env, resources, or the health checks its agent
// runs on it. Tasks placed before such a
// change are replaced by a rolling update; placement rules (constraints,
// spread, max_per_*, max_skew, rank) govern the placements made after a
// change, like Kubernetes' "IgnoredDuringExecution".
func templateChanged(a, b *types.WorkloadSpec) bool {
	ta := types.WorkloadSpec{Command: a.Command, Args: a.Args, Env: a.Env, Resources: a.Resources, Checks: a.Checks}
	tb := types.WorkloadSpec{Command: b.Command, Args: b.Args, Env: b.Env, Resources: b.Resources, Checks: b.Checks}
	return len(specDiff(&ta, &tb)) > 0
}

func envString(env []types.EnvVar) string {
	parts := make([]string, len(env))
	for i, e := range env {
		parts[i] = fmt.Sprintf("%s=%q", e.Name, e.Value)
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func constraintsString(cs []types.Constraint) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s%s%q", c.Label, c.Op, c.Value)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func labelsString(ls []types.Label) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%s=%q", l.Key, l.Value)
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// nodeSpecDiff names the registration fields in which a registered node
// and a RegisterNode message differ.
func nodeSpecDiff(n *types.Node, m *types.RegisterNode) []string {
	var d []string
	add := func(field, x, y string) {
		if x != y {
			d = append(d, fmt.Sprintf("%s: %s != %s", field, x, y))
		}
	}
	add("pub_key", addrHex(n.PubKey), addrHex(m.PubKey))
	add("zone", fmt.Sprintf("%q", n.Zone), fmt.Sprintf("%q", m.Zone))
	add("labels", labelsString(n.Labels), labelsString(m.Labels))
	add("capacity.cpu_millis", fmt.Sprint(n.Capacity.CpuMillis), fmt.Sprint(m.Capacity.CpuMillis))
	add("capacity.memory_mb", fmt.Sprint(n.Capacity.MemoryMb), fmt.Sprint(m.Capacity.MemoryMb))
	add("endpoint", fmt.Sprintf("%q", n.Endpoint), fmt.Sprintf("%q", m.Endpoint))
	return d
}

// sortedKeys returns the keys of m in ascending order: with
// appendSortedKeys, the only way this package iterates over a map.
func sortedKeys[K ~string, V any](m map[K]V) []K {
	return appendSortedKeys(make([]K, 0, len(m)), m)
}

// appendSortedKeys appends m's keys to dst in sorted order (dst may be a
// buffer on the caller's stack).
func appendSortedKeys[K ~string, V any](dst []K, m map[K]V) []K {
	n := len(dst)
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst[n:]) // not sort.Slice, which allocates
	return dst
}

func checksString(cs []types.Check) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s(%s %s %q %q :%d every %dms timeout %dms x%d grace %dms)", c.Name, c.Kind, c.Type,
			c.Command, c.Path, c.Port, c.IntervalMs, c.TimeoutMs, c.FailureThreshold, c.StartGraceMs)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
