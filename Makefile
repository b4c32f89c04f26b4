# The two commands the README starts with: `make run` and `make test`.
GO ?= go
DATA ?= ./data

.PHONY: run build test vet fuzz bench clean webmail

run: build
	./casella serve --data $(DATA)

# The version and commit "casella version" prints.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)

build:
	$(GO) build -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o casella ./cmd/casella

# Rebuilds the webmail bundle (internal/web/webmail/dist, committed and
# embedded) from the pinned npm packages; prints its gzipped size.
webmail:
	cd internal/web/webmail/ui && npm ci --no-audit --no-fund && npm run build

vet:
	$(GO) vet ./...

# The whole suite: unit, conformance, protocol, end-to-end and fault tests.
test: vet
	$(GO) test -count=1 -timeout 45m ./...

# A short run of every fuzz target (FUZZTIME each).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/...

clean:
	rm -f casella
