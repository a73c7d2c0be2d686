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

.PHONY: all build test test-deps bench fuzz lint run clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/golive

# Tools some tests use to look at what golive produces as a person would
# (pdftoppm renders the PDF printout). Installed only when missing.
test-deps:
	@command -v pdftoppm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing poppler-utils (pdftoppm)"; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null; \
	  else echo "pdftoppm missing and cannot install it: PDF rendering tests will skip"; fi; }

test: test-deps build
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 14m $(PKGS)

bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s -count 1 ./issuer/hcert ./issuer/store

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./issuer/hcert
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./issuer/hcert
	$(GO) test -run '^$$' -fuzz '^FuzzBase45$$' -fuzztime $(FUZZTIME) ./issuer/hcert
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./issuer/dcc

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

# The main job. Until the scenario engine lands this is the HCERT round trip:
# make a PKI, issue a vaccination certificate as HC1, QR and PDF, verify the QR.
run: build
	@rm -rf $(RUN_OUT) && mkdir -p $(RUN_OUT)
	$(BIN) pki init --out $(RUN_OUT)/pki --signers 2
	$(BIN) cert issue --pki $(RUN_OUT)/pki testdata/vaccination.json > $(RUN_OUT)/cert.txt
	$(BIN) cert issue --pki $(RUN_OUT)/pki --format png --out $(RUN_OUT)/cert.png testdata/vaccination.json
	$(BIN) cert issue --pki $(RUN_OUT)/pki --format pdf --out $(RUN_OUT)/cert.pdf testdata/vaccination.json
	$(BIN) cert verify --trust $(RUN_OUT)/pki/trustlist.json $(RUN_OUT)/cert.png
	$(BIN) cert revocation-hash @$(RUN_OUT)/cert.txt

clean:
	rm -rf bin out
