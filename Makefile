# Phalanx — build, test, run.
GO        ?= go
BUILD_DIR ?= build
BINARY    := $(BUILD_DIR)/phalanxd
LOCALNET  ?= $(BUILD_DIR)/localnet
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/phalanx-bft/phalanx/version.Version=$(VERSION)
GOGOPROTO_DIR = $(shell $(GO) list -m -f '{{.Dir}}' github.com/cosmos/gogoproto)

.PHONY: all build test test-short test-flood test-faults bench bench-load bench-fleet nemesis proto localnet localnet-stop lint clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BINARY) ./cmd/phalanxd

# The whole suite: unit, golden, replay, property and end-to-end tests
# (end-to-end tests build and run real phalanxd processes).
test:
	$(GO) test -count=1 -timeout 25m ./...

# Unit tests only (skips the process-level end-to-end tests).
test-short:
	$(GO) test -short -count=1 ./...

# Issue 10's acceptance run: a 4-validator network with agents, flooded
# for FLOOD_DURATION each from fresh keys, a node key, an observer key and
# an operator key, while a probe times heartbeat commits and the p99 must
# stay within 2 block intervals (tests/flood_test.go; make test runs the
# same floods for 8 s each without the latency bound).
FLOOD_DURATION ?= 60s
test-flood: build
	$(GO) test ./tests -run TestFloodsDoNotStarveHealth -count=1 -v -timeout 30m -flood-duration $(FLOOD_DURATION) -flood-latency

# Issue 11 item 5's long run: on a 4-validator network with 3 agents, the
# validator each agent uses first is SIGKILLed, then SIGSTOPped, for 30 s
# each, with the default detection params; no live node may leave Ready,
# no task may move (tests/fault_test.go; make test runs 8 s faults with
# short params).
test-faults: build
	$(GO) test ./tests -run TestOneFaultyValidatorCostsNoReady -count=1 -v -timeout 30m -faults-long

# Issue 13 item 4: every native fuzz target (func FuzzX in a _test.go),
# one after the other, each for FUZZTIME (scripts/fuzz.sh finds them with
# go test -list; docs/testing.md says what each checks). `make test` runs
# their seed corpora (testdata/fuzz/FuzzX and the f.Add seeds) only.
# FUZZ=regexp picks targets; FUZZPARALLEL is the workers per target.
FUZZTIME         ?= 30s
FUZZ             ?= .
FUZZPARALLEL     ?= 1
FUZZMINIMIZETIME ?= 10x
.PHONY: fuzz
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZ='$(FUZZ)' FUZZPARALLEL=$(FUZZPARALLEL) \
	  FUZZMINIMIZETIME=$(FUZZMINIMIZETIME) scripts/fuzz.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Issue 12 §4: Phalanx against CometBFT's kvstore, one after the other in
# one run (`phalanxd load bench`, docs/cli.md): a fresh loopback network of
# LOAD_VALIDATORS validators each (ports from LOAD_BASE_PORT), offered each
# rate of LOAD_RATES for LOAD_WARMUP then LOAD_STEP by the same open-loop
# sender; prints committed tx/s and commit latency p50/p99 per rate for
# both, the ratio per rate and at saturation. LOAD_ALTERNATE=true (the
# default) gives each system and rate a fresh network, the systems taking
# turns; false runs each system's rates on one network, one system after
# the other. LOAD_OUTPUT=json prints one JSON object; LOAD_FLAGS passes
# other flags (--signers, --senders, --tx-size, --drain, --systems,
# --output-dir).
LOAD_RATES      ?= 1000,2000,3000,4000
LOAD_STEP       ?= 40s
LOAD_WARMUP     ?= 10s
LOAD_ALTERNATE  ?= true
LOAD_VALIDATORS ?= 4
LOAD_BLOCK_TIME ?= 1s
LOAD_BASE_PORT  ?= 21000
LOAD_OUTPUT     ?= text
LOAD_FLAGS      ?=
bench-load: build
	$(BINARY) load bench --rates $(LOAD_RATES) --step-duration $(LOAD_STEP) --warmup $(LOAD_WARMUP) \
	  --validators $(LOAD_VALIDATORS) --block-time $(LOAD_BLOCK_TIME) --base-port $(LOAD_BASE_PORT) \
	  --alternate=$(LOAD_ALTERNATE) -o $(LOAD_OUTPUT) $(LOAD_FLAGS)

# Issue 12 item 1: `phalanxd fleet` plays FLEET_NODES nodes for
# FLEET_DURATION against a fresh 4-validator network with observers
# (build/fleetnet, ports from 20000), crashing FLEET_CRASH of them; prints
# its summary and each validator's and observer's CPU and peak RSS
# (scripts/bench-fleet.sh, docs/fleet.md). FLEET_ARGS passes more flags;
# FLEET_ATTESTED=false measures the baseline (attested liveness off).
FLEET_NODES    ?= 1000
FLEET_DURATION ?= 2m
FLEET_CRASH    ?= 0.01
FLEET_ATTESTED ?= true
bench-fleet: build
	BIN=$(BINARY) FLEET_DIR=$(BUILD_DIR)/fleetnet FLEET_NODES=$(FLEET_NODES) FLEET_DURATION=$(FLEET_DURATION) \
	  FLEET_CRASH=$(FLEET_CRASH) FLEET_ARGS="$(FLEET_ARGS)" FLEET_ATTESTED=$(FLEET_ATTESTED) scripts/bench-fleet.sh

# Issue 13: the nemesis (docs/nemesis.md): CYCLES seeded fault cycles
# against a live 4-validator network with observers and agents under
# client load, then the checkers; the last line is `nemesis: N cycles, F
# faults, V violations`, and the exit status is non-zero when V > 0.
# SEED=0 takes one from the clock (printed, with the command to rerun it).
# make test runs 3 cycles. First, the replay on arm64 under qemu's
# user-mode emulation (skipped, saying so, without qemu-aarch64-static).
# FAULT is how long each cycle's faults last (make test: 6s), QUIET the
# rest after each repair; KEEP=DIR copies the network's directory (homes,
# logs, data) there when a violation stops the run.
CYCLES ?= 20
SEED   ?= 0
FAULT  ?= 10s
QUIET  ?= 3s
KEEP   ?=
nemesis:
	$(GO) test ./app -run '^TestReplayAcrossArchitectures$$' -count=1 -v -arch
	$(GO) test ./tests -run '^TestNemesis$$' -count=1 -v -timeout 0 -nemesis-cycles $(CYCLES) -seed $(SEED) -nemesis-fault $(FAULT) -nemesis-quiet $(QUIET) -nemesis-keep '$(KEEP)'

# Regenerates Go code from proto/ (needs protoc; see README "Development").
proto:
	rm -rf $(BUILD_DIR)/proto-out && mkdir -p $(BUILD_DIR)/proto-out
	protoc -I proto -I $(GOGOPROTO_DIR) \
	  --plugin=protoc-gen-gocosmos="$$($(GO) tool -n protoc-gen-gocosmos)" \
	  --gocosmos_out=$(BUILD_DIR)/proto-out proto/phalanx/v1/*.proto
	cp $(BUILD_DIR)/proto-out/github.com/phalanx-bft/phalanx/types/*.pb.go types/
	rm -rf $(BUILD_DIR)/proto-out

# The app version (abci.AppVersion) a localnet's genesis must carry: one
# made for an older version runs the new rules under the old version.
APP_VERSION = $(shell sed -n 's/^const AppVersion uint64 = \([0-9]*\)$$/\1/p' abci/app.go)

# A cluster that heals itself, on loopback (docs/networks.md): 4 validators
# (ports 26600-26632), an observer per validator and 3 worker agents in zones
# zone-a, zone-b, zone-c (endpoints 26640-26642), running the sample workload
# examples/localnet.json (3 replicas, one per zone). Initialised once in
# $(LOCALNET) (a localnet made by an older phalanxd, whose stored state the
# current one cannot load, is re-initialised);
# runs in the foreground and prints how to watch it and kill an agent;
# Ctrl-C stops it all.
localnet: build
	@if test -f $(LOCALNET)/testnet.json && { ! grep -q '"agents"' $(LOCALNET)/testnet.json || \
	    ! grep -q '"attested_liveness"' $(LOCALNET)/val0/config/genesis.json || \
	    ! grep -q '"app": "$(APP_VERSION)"' $(LOCALNET)/val0/config/genesis.json || \
	    ! test -f $(LOCALNET)/config/genesis.json; }; then \
	  echo "$(LOCALNET) was made by an older phalanxd (no agents, params or app version older than this phalanxd's, or no root of trust for its clients): re-initialising it"; \
	  $(BINARY) testnet init --force --validators 4 --agents 3 --output $(LOCALNET) --chain-id phalanx-local >/dev/null || exit 1; fi
	@test -f $(LOCALNET)/testnet.json || { $(BINARY) testnet init --validators 4 --agents 3 --output $(LOCALNET) --chain-id phalanx-local >/dev/null && \
	  echo "initialised $(LOCALNET): 4 validators, 3 agents (testnet.json lists them)"; }
	$(BINARY) testnet start $(LOCALNET) --workload examples/localnet.json

# Stops the localnet from another terminal (agents, then observers, then
# validators), or processes left running by a supervisor that was killed.
localnet-stop:
	-$(BINARY) testnet stop $(LOCALNET)

clean:
	rm -rf $(BUILD_DIR)

# The same 4-validator network in containers (networks/local, docs/networks.md
# "Containers"): a FROM-scratch image of the static binary, one container per
# validator at $(DOCKER_PREFIX).10-13, RPC published on 127.0.0.1:26701, 26711,
# 26721, 26731. The homes are written once into $(DOCKER_NET); runs in the
# foreground, Ctrl-C stops it. Needs Docker and docker-compose (1.29 or later).
DOCKER_NET      ?= $(BUILD_DIR)/docker-net
DOCKER_IMAGE    ?= phalanxd:local
DOCKER_PREFIX   ?= 172.28.10
DOCKER_PROJECT  ?= phalanx
DOCKER_COMPOSE  ?= docker-compose
# The validators run as the user who owns the homes; under rootless Docker
# container root already is that user.
DOCKER_USER     ?= $(shell docker info -f '{{.SecurityOptions}}' 2>/dev/null | grep -q rootless && echo 0:0 || echo $$(id -u):$$(id -g))
COMPOSE_LOCAL    = PHALANX_DOCKER_NET=$(abspath $(DOCKER_NET)) PHALANX_DOCKER_IMAGE=$(DOCKER_IMAGE) \
                   PHALANX_DOCKER_PREFIX=$(DOCKER_PREFIX) PHALANX_DOCKER_USER=$(DOCKER_USER) \
                   $(DOCKER_COMPOSE) -p $(DOCKER_PROJECT) -f networks/local/docker-compose.yml

.PHONY: localnet-docker localnet-docker-stop

localnet-docker: build
	@$(GO) version -m $(BINARY) | grep -q 'CGO_ENABLED=0' || { echo "$(BINARY) is not a static (CGO_ENABLED=0) build" >&2; exit 1; }
	mkdir -p $(BUILD_DIR)/docker && cp $(BINARY) $(BUILD_DIR)/docker/phalanxd
	docker build -q -f networks/local/Dockerfile -t $(DOCKER_IMAGE) $(BUILD_DIR)/docker
	@test -f $(DOCKER_NET)/testnet.json || $(BINARY) testnet init --validators 4 --output $(DOCKER_NET) \
	  --chain-id phalanx-docker --starting-ip $(DOCKER_PREFIX).10 --public-rpc --public-metrics
	$(COMPOSE_LOCAL) up

# Stops and removes the containers and their network; the chain stays in
# $(DOCKER_NET) for the next `make localnet-docker`.
localnet-docker-stop:
	-$(COMPOSE_LOCAL) down
