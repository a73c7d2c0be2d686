# golive: one static binary, tests, benchmarks and fuzzing.
# `make test` and `make run` do all set-up themselves on a fresh machine.

GO        ?= go
BIN       := bin/golive
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PKGS      := ./...
FUZZTIME  ?= 60s
STATICCHECK_VERSION := v0.7.0
RUN_OUT   ?= out/run

export CGO_ENABLED := 0
export TESTCONTAINERS_RYUK_DISABLED := true

.PHONY: all build test test-deps bench fuzz lint run clean vegeta-report

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/golive

# Tools some tests use to look at what golive produces as a person would
# (pdftoppm renders the PDF printout; headless Chromium renders report.html),
# and PostgreSQL's binaries, from which the registry tests start throwaway
# servers (internal/pgserver; no service is set up). Installed only when
# missing.
test-deps:
	@command -v pdftoppm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing poppler-utils (pdftoppm)"; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null; \
	  else echo "pdftoppm missing and cannot install it: PDF rendering tests will skip"; fi; }
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (renders report.html and drives the staff portal in tests)"; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing and cannot install it: the report rendering and staff portal browser tests will skip"; fi; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing postgresql (the PostgreSQL registry tests run its initdb and postgres)"; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "PostgreSQL missing and cannot install it: its registry tests will skip (fail with GOLIVE_REQUIRE_POSTGRES=1)"; fi; }

# Two passes, both over every package (docs/ci.md has the measurements):
# 1. the race detector over the -short tests (cgo on: -race needs it; gcc is
#    on the machine). The Docker requirement is left to pass 2, so -short
#    skips the Docker tests here rather than running them twice.
# 2. every test, without the race detector (Docker and long tests included).
# -race over the full suite took 23.5 min against 6.4 min for -race -short
# at the same load: the PDF, chart and Chromium renderings run 5-50x slower
# under the detector.
test: test-deps build
	$(GO) vet $(PKGS)
	GOLIVE_REQUIRE_DOCKER= CGO_ENABLED=1 $(GO) test -race -short -count=1 -timeout 10m $(PKGS)
	$(GO) test -count=1 -timeout 14m $(PKGS)

# Micro-benchmarks, then the one-shot system benchmarks (each a single
# measurement of a few minutes; results go to docs/BENCHMARKS.md).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s -count 1 ./issuer/hcert ./issuer/store ./issuer/finder
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s -count 1 ./issuer/overload
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 30m ./issuer/bench ./loadgen ./reports ./chaos/...

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./issuer/hcert
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./issuer/hcert
	$(GO) test -run '^$$' -fuzz '^FuzzBase45$$' -fuzztime $(FUZZTIME) ./issuer/hcert
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./issuer/dcc
	$(GO) test -run '^$$' -fuzz '^FuzzAPI$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./issuer/portal
	$(GO) test -run '^$$' -fuzz '^FuzzMailoutAPI$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./issuer/mailout
	$(GO) test -run '^$$' -fuzz '^FuzzBookingAPI$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./issuer/booking
	$(GO) test -run '^$$' -fuzz '^FuzzVendorAPI$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./issuer/vendors
	$(GO) test -run '^$$' -fuzz '^FuzzFrontRequest$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./issuer/frontdoor

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

# The main job: replay launch day (Monday 14 June 2021) against the hardened
# issuer in Docker containers built FROM scratch around bin/golive, and
# write results, report.html and a verdict into $(RUN_OUT).
RUN_SCENARIO ?= launch-day
RUN_TARGET   ?= docker
run: build
	@rm -rf $(RUN_OUT)
	$(BIN) run $(RUN_SCENARIO) --target $(RUN_TARGET) --out $(RUN_OUT)

# vegeta's own report over a run's results.gob (merged from workers or not),
# with vegeta's command built from the module version go.mod pins (a tool
# of the module: go.mod's tool line), never a downloaded binary.
bin/vegeta: go.mod go.sum
	$(GO) build -o $@ github.com/tsenart/vegeta/v12
vegeta-report: bin/vegeta
	bin/vegeta report $(RUN_OUT)/results.gob

clean:
	rm -rf bin out
