package api

import (
	"sort"

	"github.com/phalanx-bft/phalanx/types"
)

// SpecView is the JSON form of a workload spec: the spec file format of
// DESIGN §3 (`phalanxd tx workload create -f web.json`) and the "spec" of a
// WorkloadView. env is an object; the state keeps it as a list sorted by
// name.
type SpecView struct {
	Name           string            `json:"name"`
	Command        string            `json:"command"`
	Args           []string          `json:"args"`
	Env            map[string]string `json:"env"`
	Replicas       uint32            `json:"replicas"`
	Resources      ResourcesView     `json:"resources"`
	Constraints    []ConstraintView  `json:"constraints"`
	SpreadKey      string            `json:"spread_key"`
	MaxPerDomain   uint32            `json:"max_per_domain"`
	MaxPerNode     uint32            `json:"max_per_node"`
	RestartPolicy  RestartPolicyView `json:"restart_policy"`
	MaxUnavailable uint32            `json:"max_unavailable"`
	Priority       int32             `json:"priority"`
	MaxSkew        uint32            `json:"max_skew"`
	Rank           string            `json:"rank"`
	// Type is "service" (the default: runs until stopped), "batch" (each
	// task runs once to completion) or "system" (one task on every
	// eligible node). A batch has completions tasks (its replicas), at
	// most parallelism of them placed at once (0: all).
	Type        string `json:"type"`
	Completions uint32 `json:"completions"`
	Parallelism uint32 `json:"parallelism"`
	// ReplaceOrder is "stop-first" (the default: a replacement starts once
	// the generation it replaces has stopped) or "start-first" (at once;
	// two generations may run together for a while).
	ReplaceOrder string `json:"replace_order"`
	// Checks are the health checks the agent runs on each task (issue 14
	// §2); MinHealthyMs is how long a rolling update's new task must have
	// been ready before the next step.
	Checks       []CheckView `json:"checks"`
	MinHealthyMs int64       `json:"min_healthy_ms"`
	// Disconnect is what happens to the tasks of a lost node (issue 14
	// §5): how long the chain waits before it replaces them, and what
	// holds when the node comes back.
	Disconnect DisconnectView `json:"disconnect"`
}

// Replacement orders (SpecView.replace_order; the state writes stop-first
// as "").
const (
	StopFirst  = "stop-first"
	StartFirst = "start-first"
)

// Workload types (SpecView.type; the state writes a service as "").
const (
	TypeService = "service"
	TypeBatch   = "batch"
	// TypeSystem runs one task on every eligible node: schedulable (not
	// cordoned or draining) and matching the constraints. Its tasks are
	// created and removed with the nodes; replicas is not set.
	TypeSystem = "system"
)

// ResourcesView is the JSON form of types.Resources.
type ResourcesView struct {
	CPUMillis int64 `json:"cpu_millis"`
	MemoryMB  int64 `json:"memory_mb"`
}

// ConstraintView is the JSON form of types.Constraint.
type ConstraintView struct {
	Label string `json:"label"`
	Op    string `json:"op"`
	Value string `json:"value"`
}

// RestartPolicyView is the JSON form of types.RestartPolicy.
type RestartPolicyView struct {
	MaxRestarts   uint32 `json:"max_restarts"`
	BackoffBaseMs int64  `json:"backoff_base_ms"`
	BackoffMaxMs  int64  `json:"backoff_max_ms"`
}

func resourcesView(r types.Resources) ResourcesView {
	return ResourcesView{CPUMillis: r.CpuMillis, MemoryMB: r.MemoryMb}
}

// NewSpecView converts a spec to its JSON form.
func NewSpecView(s types.WorkloadSpec) SpecView {
	v := SpecView{
		Name:         s.Name,
		Command:      s.Command,
		Args:         append([]string{}, s.Args...),
		Env:          map[string]string{},
		Replicas:     s.Replicas,
		Resources:    resourcesView(s.Resources),
		Constraints:  []ConstraintView{},
		SpreadKey:    s.SpreadKey,
		MaxPerDomain: s.MaxPerDomain,
		MaxPerNode:   s.MaxPerNode,
		RestartPolicy: RestartPolicyView{
			MaxRestarts:   s.RestartPolicy.MaxRestarts,
			BackoffBaseMs: s.RestartPolicy.BackoffBaseMs,
			BackoffMaxMs:  s.RestartPolicy.BackoffMaxMs,
		},
		MaxUnavailable: s.MaxUnavailable,
		Priority:       s.Priority,
		MaxSkew:        s.MaxSkew,
		Rank:           s.Rank,
		Type:           TypeService,
		Parallelism:    s.Parallelism,
		ReplaceOrder:   StopFirst,
		Checks:         checkViews(s.Checks),
		MinHealthyMs:   s.MinHealthyMs,
		Disconnect:     disconnectView(s.Disconnect),
	}
	if s.ReplaceOrder != "" {
		v.ReplaceOrder = s.ReplaceOrder
	}
	if s.Type != "" {
		v.Type = s.Type
	}
	if s.Type == TypeBatch {
		v.Completions = s.Replicas
	}
	for _, e := range s.Env {
		v.Env[e.Name] = e.Value
	}
	for _, c := range s.Constraints {
		v.Constraints = append(v.Constraints, ConstraintView(c))
	}
	return v
}

// Spec converts the JSON form to a spec, env sorted by name.
func (v SpecView) Spec() types.WorkloadSpec {
	s := types.WorkloadSpec{
		Name:         v.Name,
		Command:      v.Command,
		Replicas:     v.Replicas,
		Resources:    types.Resources{CpuMillis: v.Resources.CPUMillis, MemoryMb: v.Resources.MemoryMB},
		SpreadKey:    v.SpreadKey,
		MaxPerDomain: v.MaxPerDomain,
		MaxPerNode:   v.MaxPerNode,
		RestartPolicy: types.RestartPolicy{
			MaxRestarts:   v.RestartPolicy.MaxRestarts,
			BackoffBaseMs: v.RestartPolicy.BackoffBaseMs,
			BackoffMaxMs:  v.RestartPolicy.BackoffMaxMs,
		},
		MaxUnavailable: v.MaxUnavailable,
		Priority:       v.Priority,
		MaxSkew:        v.MaxSkew,
		Rank:           v.Rank,
		Type:           v.Type,
		Parallelism:    v.Parallelism,
		ReplaceOrder:   v.ReplaceOrder,
		MinHealthyMs:   v.MinHealthyMs,
		Disconnect:     v.Disconnect.disconnect(),
	}
	for _, c := range v.Checks {
		s.Checks = append(s.Checks, c.check())
	}
	if v.ReplaceOrder == StopFirst {
		s.ReplaceOrder = ""
	}
	if v.Type == TypeService {
		s.Type = ""
	}
	if v.Type == TypeBatch && v.Replicas == 0 {
		s.Replicas = v.Completions
	}
	if len(v.Args) > 0 {
		s.Args = append([]string(nil), v.Args...)
	}
	for name, value := range v.Env {
		s.Env = append(s.Env, types.EnvVar{Name: name, Value: value})
	}
	sort.Slice(s.Env, func(i, j int) bool { return s.Env[i].Name < s.Env[j].Name })
	for _, c := range v.Constraints {
		s.Constraints = append(s.Constraints, types.Constraint(c))
	}
	return s
}

// ParseWorkloadSpecJSON reads a spec file (DESIGN §3). Unknown fields are
// rejected; the spec is validated as CreateWorkload would validate it, so a
// client sees the same error the chain would return.
func ParseWorkloadSpecJSON(b []byte) (types.WorkloadSpec, error) {
	var v SpecView
	if err := DecodeStrict(b, &v); err != nil {
		return types.WorkloadSpec{}, invalid("workload spec: %v", err)
	}
	if v.Type == TypeBatch {
		if v.Completions == 0 {
			return types.WorkloadSpec{}, invalid("batch workload %s: completions is 0; want the number of tasks to run to completion, at least 1", v.Name)
		}
		if v.Replicas != 0 && v.Replicas != v.Completions {
			return types.WorkloadSpec{}, invalid("batch workload %s: replicas %d differs from completions %d; a batch's replicas are its completions: leave replicas out", v.Name, v.Replicas, v.Completions)
		}
	} else if v.Completions != 0 {
		return types.WorkloadSpec{}, invalid("workload %s: completions applies to type batch; a %s runs replicas tasks until stopped", v.Name, TypeService)
	}
	s := v.Spec()
	if err := ValidateWorkloadSpec(&s); err != nil {
		return types.WorkloadSpec{}, err
	}
	return s, nil
}
