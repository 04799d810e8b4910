// Package observer is a validator's observer: once per report window
// (latest block time / params.report_window_ms) it probes every registered
// node's agent endpoint and submits one HealthReport, signed with an
// account that holds the observer role, through the local validator's RPC.
//
// # Contract
//
//   - One report per window: the window is written to the state file
//     before the report is signed, so that no restart or retry signs a
//     second, different report for it (the chain jails an observer whose
//     votes for one node in one window conflict). A retry after an unknown
//     outcome resends the same report.
//   - A report holds at most api.MaxObservationsPerReport observations and
//     fits in a transaction (api.MaxTxBytes); when the cluster is larger the
//     observations included rotate with the window.
//   - A probe is GET http://ENDPOINT/healthz (its round trip is the rtt;
//     the answer must name the node) then GET /tasks (tasks not healthy
//     and placed on the node by the chain are failing: the chain refuses
//     others and penalises the observer), within Config.ProbeTimeout. A node without an endpoint is
//     not reported.
//   - A circuit breaker per endpoint (Breaker) opens after
//     BreakerConfig.Failures consecutive failed probes: the node is then
//     reported unreachable without a probe until, after the cool-down, one
//     probe succeeds.
package observer
