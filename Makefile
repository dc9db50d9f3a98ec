# Understage build entry points. Builds are pure Go (modernc SQLite).
GO      ?= go
export CGO_ENABLED = 0
BIN     := bin/understage
CONFIG  ?= examples/app-config.yaml
PKGS    ?= ./...

.PHONY: build run test bench vet fmt fmt-check app e2e fuzz

build:
	$(GO) build -o $(BIN) ./cmd/understage

# The stock Backstage frontend, built with npm (plugins/app/build.sh: npm ci
# and the build run only when their inputs changed). APP_LINE picks the
# release line: latest (default) or 1.45.
APP_LINE ?= latest
APP_DIST  = plugins/app/web/$(APP_LINE)/packages/app/dist
app:
	plugins/app/build.sh $(APP_LINE)

run: build app
	@url=$$(./$(BIN) config --config $(CONFIG) | sed -n 's/.*"backend":{[^}]*"baseUrl":"\([^"]*\)".*/\1/p' | head -1); \
	echo "== understage with the $(APP_LINE) app: open $$url/"; \
	APP_DIST=$(APP_DIST) APP_BASE_URL=$$url ./$(BIN) serve --config $(CONFIG) --config plugins/app/app-config.dist.yaml

# PostgreSQL-backed tests expect a server at 127.0.0.1:5432 (user postgres,
# trust auth); .ci/run starts one. The acceptance journeys run once more on
# PostgreSQL (the store, conformance and engine tests cover both in one run).
test:
	$(GO) test -timeout 30m $(PKGS)
	UNDERSTAGE_FEATURES_DB=pg $(GO) test -timeout 30m -count=1 ./features
	$(MAKE) fuzz
	$(MAKE) e2e

# Every fuzz target in the tree (found by name, so a new one is never left
# out), each fuzzed for FUZZ_TIME (whole seconds) on top of its committed
# corpus, which plain `go test` already replays. One worker: the machine has
# two cores. A target whose seeds take long to replay under coverage says
# so in a comment line just above it, "// make fuzz: +Ns": N more seconds,
# so that FUZZ_TIME is still spent fuzzing.
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when FUZZ_TIME runs out (go.dev/issue/75804, fixed in Go 1.27);
# it writes no input then. Such a run is repeated once. A failure that
# writes an input, any other failure, or a second one fails the target.
FUZZ_TIME ?= 5s
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	for f in $$(git grep -l '^func Fuzz' -- '*_test.go'); do \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			extra=$$(grep -B1 "^func $$t(" $$f | sed -n 's|^// make fuzz: +\([0-9][0-9]*\)s$$|\1|p'); \
			budget=$$(( $$(echo $(FUZZ_TIME) | sed 's/s$$//') + $${extra:-0} ))s; \
			for try in 1 2; do \
				echo "== fuzz $$t (./$$(dirname $$f), $$budget)"; \
				rc=0; $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $$budget -parallel 1 ./$$(dirname $$f) >"$$log" 2>&1 || rc=$$?; \
				cat "$$log"; \
				[ $$rc -eq 0 ] && break; \
				if [ $$try -eq 1 ] && grep -qx '    context deadline exceeded' "$$log" && ! grep -q 'Failing input written' "$$log"; then \
					echo "== $$t: the coordinator's deadline race (go.dev/issue/75804), no input written: once more"; continue; \
				fi; \
				exit $$rc; \
			done; \
		done; \
	done

# Browser tests of both app lines and the Node client tests against a fresh
# understage (plugins/app/e2e/run.sh). Without Chromium they are skipped
# with a notice, except under CI=true, where that is a failure.
E2E_LINES ?= 1.45 latest
e2e: build
	LINES="$(E2E_LINES)" plugins/app/e2e/run.sh

# Go benchmarks (filter-to-SQL, search rows, JSON encoding, ingest), then
# the whole-process catalog benchmark (cmd/benchcmp) on a generated
# organisation (catalog/orggen) of each of BENCH_SIZES entities, on each of
# BENCH_DBS (memory and file: SQLite; pg: PostgreSQL at BENCH_PG), with the
# real Backstage backend at sizes up to BENCH_ORACLE_MAX (skipped when the
# oracle harness is absent). The markdown table of figures (machine,
# command, date, ratios to Backstage, growth from the smallest size) goes
# to BENCH_OUT. BENCH_TASKS sets the number of scaffolder tasks of a
# ten-file template (0 skips that figure). The 250,000-entity runs take
# about half an hour each on two cores: `make bench BENCH_SIZES=10000`
# for a quick look.
ORACLE  ?= ../shared/oracle
BENCH_SIZES ?= 10000,100000,250000
BENCH_DBS ?= memory,file,pg
BENCH_PG ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
BENCH_ORACLE_MAX ?= 10000
BENCH_OUT ?= bench-results.md
BENCH_TASKS ?= 100
bench: build
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)
	$(GO) run ./cmd/benchcmp -n $(BENCH_SIZES) -db $(BENCH_DBS) -pg '$(BENCH_PG)' -oracle-max $(BENCH_ORACLE_MAX) -out $(BENCH_OUT) -tasks $(BENCH_TASKS) -understage $(BIN) $(if $(wildcard $(ORACLE)/start.sh),-oracle $(ORACLE))

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
