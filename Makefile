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

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
