# Phalanx — build, test, run.
GO        ?= go
BUILD_DIR ?= build
BINARY    := $(BUILD_DIR)/phalanxd
LOCALNET  ?= $(BUILD_DIR)/localnet
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/phalanx-bft/phalanx/version.Version=$(VERSION)
GOGOPROTO_DIR = $(shell $(GO) list -m -f '{{.Dir}}' github.com/cosmos/gogoproto)

.PHONY: all build test test-short bench proto localnet localnet-stop lint clean

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

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Regenerates Go code from proto/ (needs protoc; see README "Development").
proto:
	rm -rf $(BUILD_DIR)/proto-out && mkdir -p $(BUILD_DIR)/proto-out
	protoc -I proto -I $(GOGOPROTO_DIR) \
	  --plugin=protoc-gen-gocosmos="$$($(GO) tool -n protoc-gen-gocosmos)" \
	  --gocosmos_out=$(BUILD_DIR)/proto-out proto/phalanx/v1/*.proto
	cp $(BUILD_DIR)/proto-out/github.com/phalanx-bft/phalanx/types/*.pb.go types/
	rm -rf $(BUILD_DIR)/proto-out

# A 4-validator network on loopback (ports 26600-26632, docs/networks.md),
# initialised once in $(LOCALNET); runs in the foreground, Ctrl-C stops it.
localnet: build
	@test -f $(LOCALNET)/testnet.json || $(BINARY) testnet init --validators 4 --output $(LOCALNET) --chain-id phalanx-local
	$(BINARY) testnet start $(LOCALNET)

# Stops the localnet from another terminal, or validators left running by a
# supervisor that was killed.
localnet-stop:
	-$(BINARY) testnet stop $(LOCALNET)

clean:
	rm -rf $(BUILD_DIR)
