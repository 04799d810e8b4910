package main

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/spf13/cobra"

	"github.com/phalanx-bft/phalanx/agent/observer"
	"github.com/phalanx-bft/phalanx/client"
	"github.com/phalanx-bft/phalanx/config"
	"github.com/phalanx-bft/phalanx/crypto/keyring"
)

func init() { extraCommands = append(extraCommands, observerCmd) }

func observerCmd() *cobra.Command {
	var (
		home, key, backend, node    string
		fallbacks                   []string
		interval, probeTimeout      time.Duration
		cooldown, commitTimeout     time.Duration
		breakerFailures, concurrent int
		httpOnly                    bool
		tf                          trustFlags
	)
	cmd := &cobra.Command{
		Use:   "observer --key NAME --node URL",
		Short: "Probe the cluster's nodes and submit one signed HealthReport per report window",
		Long: `Run a validator's observer: once per report window (the latest block time
divided by params.report_window_ms) it probes every registered node's
endpoint within --probe-timeout: one UDP datagram to the endpoint's port,
answered by the agent (two tries), then GET http://ENDPOINT/tasks only
when the agent says some task is failing; a node that does not answer
over UDP is asked GET http://ENDPOINT/healthz (and /tasks) instead
(--http-probes-only: always over HTTP, as before). It submits one HealthReport with all its observations (reachable, round
trip, failing tasks), signed with --key, through --node (normally the local
validator's RPC) and every --rpc-fallback at once: one of them admitting
it is enough, so a dead or stopped validator does not silence its
observer.

A circuit breaker per endpoint stops probing a node after
--breaker-failures consecutive failures: it is then reported unreachable
without a probe, until one probe after --breaker-cooldown succeeds.

The node list is an unverified answer: each node's endpoint is checked
against the node's record, proven against a header CometBFT's light
client verified from the genesis validator set (--genesis, default
HOME/config/genesis.json or the testnet's) or --trust-height/--trust-hash,
before it is probed. A node whose record does not verify is not reported.

The key's account needs the observer role. The observer never signs two
reports for one window (two conflicting reports jail it): the last window
it signed for is written to HOME/observer/ADDRESS.json before it signs.
See docs/agent.md.`,
		Example: `  phalanxd observer --home ~/.phalanx --key observer0 --node tcp://127.0.0.1:26657`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" {
				return errors.New("--key is required: the keyring name of an account with the observer role")
			}
			kr, err := openKeyring(cmd, home, backend)
			if err != nil {
				return err
			}
			priv, err := kr.Signer(key)
			if err != nil {
				return fmt.Errorf("--key %q: %w", key, err)
			}
			logger := log.New(cmd.ErrOrStderr(), "observer ", log.LstdFlags|log.Lmicroseconds)
			trust, err := tf.options(node, "")
			if err != nil {
				return fmt.Errorf("the observer probes only nodes it can verify: %w", err)
			}
			trust.Dir = "" // the observer keeps one store per key
			o, err := observer.New(observer.Config{
				Trust:               trust,
				Home:                home,
				Key:                 priv,
				Nodes:               append([]string{node}, fallbacks...),
				Interval:            interval,
				ProbeTimeout:        probeTimeout,
				Breaker:             observer.BreakerConfig{Failures: breakerFailures, Cooldown: cooldown},
				MaxConcurrentProbes: concurrent,
				HTTPProbesOnly:      httpOnly,
				CommitTimeout:       commitTimeout,
				Logf:                logger.Printf,
			})
			if err != nil {
				return err
			}
			ctx, stop := cmdContext(cmd)
			defer stop()
			return o.Run(ctx)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&home, "home", config.DefaultHome(), "home directory holding the keyring and the observer's state (HOME/observer/)")
	fl.StringVar(&key, "key", "", "keyring name of the observer account's key (required)")
	fl.StringVar(&backend, "keyring-backend", string(keyring.BackendFile),
		"keyring backend: file (passphrase from $"+keyring.EnvPassphrase+" or the terminal) or test (unencrypted, local networks only)")
	fl.StringVar(&node, "node", client.DefaultNode, "CometBFT RPC address of the local validator")
	fl.StringArrayVar(&fallbacks, "rpc-fallback", nil, "RPC address of another validator, used when the previous ones do not answer (repeatable)")
	fl.DurationVar(&interval, "interval", observer.DefaultInterval, "how often to look for a new report window")
	fl.DurationVar(&probeTimeout, "probe-timeout", observer.DefaultProbeTimeout, "bound on a node's HTTP probe (/healthz, then /tasks), and the longest wait for a UDP answer")
	fl.IntVar(&breakerFailures, "breaker-failures", observer.DefaultBreakerFailures, "consecutive failed probes that open an endpoint's circuit breaker")
	fl.DurationVar(&cooldown, "breaker-cooldown", observer.DefaultBreakerCooldown, "how long an open breaker reports its node unreachable before probing it again")
	fl.IntVar(&concurrent, "max-concurrent-probes", observer.DefaultMaxConcurrentProbes, "probes in flight at most")
	fl.BoolVar(&httpOnly, "http-probes-only", false, "probe every node over HTTP (a TCP connection and a request each), not with a UDP datagram first")
	fl.DurationVar(&commitTimeout, "commit-timeout", observer.DefaultCommitTimeout, "how long to wait for a report to be committed")
	tf.register(cmd, &home, "observer")
	return cmd
}
