#!/usr/bin/env bash
# make bench-fleet (docs/fleet.md): a fresh 4-validator fleet network in
# $FLEET_DIR, validators and observers started, `phalanxd fleet` run
# against it, then each process's CPU over the run (utime + stime from
# /proc/PID/stat, as a share of one core) and peak RSS (VmHWM).
set -euo pipefail

BIN=${BIN:-build/phalanxd}
FLEET_DIR=${FLEET_DIR:-build/fleetnet}
FLEET_NODES=${FLEET_NODES:-1000}
FLEET_DURATION=${FLEET_DURATION:-2m}
FLEET_CRASH=${FLEET_CRASH:-0.01}
FLEET_BASE_PORT=${FLEET_BASE_PORT:-20000}
FLEET_LISTEN=${FLEET_LISTEN:-0.0.0.0:$((FLEET_BASE_PORT + 100))}
FLEET_ARGS=${FLEET_ARGS:-}
# FLEET_ATTESTED=false turns params.attested_liveness off before the run:
# the baseline, every node heartbeating every interval.
FLEET_ATTESTED=${FLEET_ATTESTED:-true}

"$BIN" testnet init --validators 4 --fleet --force --output "$FLEET_DIR" \
  --base-port "$FLEET_BASE_PORT" --chain-id phalanx-fleet >/dev/null
trap '"$BIN" testnet stop "$FLEET_DIR" >/dev/null 2>&1 || true' EXIT
"$BIN" testnet start "$FLEET_DIR" --detach >/dev/null
echo "network up in $FLEET_DIR: 4 validators, 4 observers"
if [ "$FLEET_ATTESTED" = false ]; then
  "$BIN" tx params update --attested-liveness=false --from admin --keyring-backend test \
    --home "$FLEET_DIR" --node "tcp://127.0.0.1:$((FLEET_BASE_PORT + 1))" --yes >/dev/null
  echo "params.attested_liveness off (baseline: every node heartbeats every interval)"
fi

names=(val0 val1 val2 val3 observer0 observer1 observer2 observer3)
pidof_proc() { # the pid file testnet start wrote for process $1
  case $1 in
    val*) cat "$FLEET_DIR/$1/phalanxd.pid" ;;
    observer*) cat "$FLEET_DIR/val${1#observer}/observer.pid" ;;
  esac
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A pid t0
for n in "${names[@]}"; do
  pid[$n]=$(pidof_proc "$n" || true)
  if [ -n "${pid[$n]}" ] && [ -r "/proc/${pid[$n]}/stat" ]; then t0[$n]=$(ticks "${pid[$n]}"); fi
done
start=$(date +%s.%N)

# shellcheck disable=SC2086
"$BIN" fleet --home "$FLEET_DIR" --nodes "$FLEET_NODES" --duration "$FLEET_DURATION" \
  --crash-fraction "$FLEET_CRASH" --listen "$FLEET_LISTEN" $FLEET_ARGS

end=$(date +%s.%N)
hz=$(getconf CLK_TCK)
echo
printf '%-10s %8s %12s %12s\n' PROCESS PID "CPU (core)" "PEAK RSS"
for n in "${names[@]}"; do
  p=${pid[$n]:-}
  if [ -z "$p" ] || [ -z "${t0[$n]:-}" ] || [ ! -r "/proc/$p/stat" ]; then
    printf '%-10s %8s %12s %12s\n' "$n" "-" "-" "-"; continue
  fi
  t1=$(ticks "$p")
  cpu=$(awk -v a="${t0[$n]}" -v b="$t1" -v s="$start" -v e="$end" -v hz="$hz" 'BEGIN{printf "%.1f %%", 100*(b-a)/hz/(e-s)}')
  rss=$(awk '/VmHWM/{printf "%d MB", $2/1024}' "/proc/$p/status")
  printf '%-10s %8s %12s %12s\n' "$n" "$p" "$cpu" "$rss"
done
echo "(CPU: utime+stime over the fleet's run, share of one core; peak RSS: VmHWM)"
