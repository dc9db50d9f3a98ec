# Understage build entry points. Builds are pure Go (modernc SQLite).
GO      ?= go
export CGO_ENABLED = 0
BIN     := bin/understage
CONFIG  ?= examples/app-config.yaml
PKGS    ?= ./...

.PHONY: build run test bench vet fmt fmt-check

build:
	$(GO) build -o $(BIN) ./cmd/understage

run: build
	./$(BIN) serve --config $(CONFIG)

# PostgreSQL-backed tests expect a server at 127.0.0.1:5432 (user postgres,
# trust auth); .ci/run starts one.
test:
	$(GO) test $(PKGS)

# Go benchmarks, then the whole-process comparison with the real Backstage
# backend (skipped when the oracle harness is absent). BENCH_N sets the
# catalog size of the whole-process run.
ORACLE  ?= ../shared/oracle
BENCH_N ?= 10000
bench: build
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)
	$(GO) run ./cmd/benchcmp -n $(BENCH_N) -understage $(BIN) $(if $(wildcard $(ORACLE)/start.sh),-oracle $(ORACLE))

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
