# keyrouter: `make test` runs every test, installing what it needs
# (Go modules, the pinned staticcheck, the Node.js test's packages,
# Debian's chromium for the dashboard's browser test).

GO ?= go
STATICCHECK = honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 10s

.PHONY: test check unit race fuzz node browser bench run chaos

test: check browser race fuzz node

# No tracked binaries or files over 1 MB; gofmt, go vet and staticcheck clean.
check:
	@.ci/no-binaries
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

unit:
	$(GO) test -count=1 ./...

race:
	$(GO) test -race -count=1 -timeout 10m ./...

# Brief fuzzing of intent decoding (longer runs: make fuzz FUZZTIME=5m).
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeOrderIntent$$' -fuzztime=$(FUZZTIME) ./messages
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeCancelIntent$$' -fuzztime=$(FUZZTIME) ./messages

# The dashboard in a real headless Chromium (installed first if missing;
# the test skips only if it cannot be). Screenshot: tests/artifacts/.
browser:
	bash tests/browser/install.sh
	$(GO) test -count=1 -run '^TestDashboardInBrowser$$' -v ./cmd/keyrouter

# The cross-language contract test: Node.js against a running keyrouter.
node:
	bash tests/node/run.sh

# The chaos suite's long run (its short, seeded run is part of every
# `go test ./...`): separate processes on a 3-node NATS cluster, killed
# under load. CHAOS_SEED=N replays a run; CHAOS_KEEP=1 keeps its directory
# (.cache/chaos/...) even when it passes.
chaos:
	CHAOS_LONG=1 $(GO) test -count=1 -v -timeout 30m -run '^TestChaos$$' ./tests/chaos

bench:
	$(GO) run ./cmd/keyrouter bench

run:
	$(GO) run ./cmd/keyrouter run
