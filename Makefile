# callrecords-etl. `make demo` and `make test` install what they need themselves.
GO        ?= go
VERSION   := $(shell cat VERSION)
COMMIT    ?= $(shell git describe --always --dirty --abbrev=7 --exclude='*' 2>/dev/null)
BIN       := $(CURDIR)/bin
VERSITYGW_VERSION := v1.8.0
STATICCHECK_VERSION := v0.8.2
# The last Azurite that runs on Node.js 20 (3.36 wants 22); keep it equal to
# loadtest.AzuriteVersion.
AZURITE_VERSION := 3.35.0
AZURITE := $(BIN)/azurite/node_modules/.bin/azurite-blob

.PHONY: test-tools build demo test race lint tidy-check integration e2e clean pushgateway chromium image deploy-check bench bench-1m bench-privacy bench-iceberg

# The job, and next to it the binary its --table-format iceberg runs start
# (package icebergproc: iceberg-go stays out of the job's own binary).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.commit=$(COMMIT)" -o $(BIN)/callrecords-etl .
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(BIN)/callrecords-etl-iceberg ./cmd/callrecords-etl-iceberg

# The demo also builds bin/query, DuckDB through its Go driver (cgo, from the
# e2e module), so that the queries it suggests run without the DuckDB CLI.
demo: build
	cd e2e && CGO_ENABLED=1 $(GO) build -o $(BIN)/query ./cmd/query
	$(BIN)/callrecords-etl demo --dest ./lake

# The S3 conformance and end-to-end tests run against a real versitygw server,
# installed at a pinned version into ./bin (about two minutes the first time).
$(BIN)/versitygw:
	GOBIN=$(BIN) CGO_ENABLED=0 $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

# The Azure store and end-to-end tests run against Azurite, the Azure Storage
# emulator, from the npm registry into ./bin/azurite (Node.js and npm needed).
$(AZURITE):
	npm install --prefix $(BIN)/azurite --no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION)

# The completion test runs the scripts in real shells, and the benchmark
# harness measures peak RSS with GNU time (Debian packages).
test-tools:
	@command -v zsh >/dev/null && command -v fish >/dev/null && test -x /usr/bin/time || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q zsh fish time; }

# The metrics test pushes to a real Prometheus Pushgateway (Debian package).
pushgateway:
	@command -v prometheus-pushgateway >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus-pushgateway; }

# Headless Chromium, for the test that opens the HTML report in a browser.
chromium:
	@command -v chromium >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; }

# Every test: lint, the unit, S3 and Azure tests with the race detector, and the DuckDB
# read-back tests (a separate module: our binary stays CGO-free). One after another:
# side by side (make -j5) they took longer, 970 s against 842 s on 2 cores, and
# 1,806 CPU-seconds against 1,425.
test: lint $(BIN)/versitygw $(AZURITE) pushgateway chromium test-tools
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 60m ./...
	cd e2e && VERSITYGW_BIN=$(BIN)/versitygw CGO_ENABLED=1 $(GO) test -count=1 -timeout 60m ./...
	cd bench/decoders && $(GO) test -count=1 ./...
	$(MAKE) deploy-check

# The container image the Kubernetes manifests and the Airflow DAG run (needs a
# Docker engine; none runs on the development machines here).
IMAGE ?= ghcr.io/callrecords-etl/callrecords-etl
image:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE):v$(VERSION) .

# Offline validation of deploy/: strict decoding into k8s.io/api types, kustomize
# builds, podFailurePolicy against our exit codes, alert rules, the DAG's syntax.
deploy-check:
	cd deploy/validate && $(GO) vet ./... && $(GO) test -count=1 ./...

race: $(BIN)/versitygw $(AZURITE) pushgateway
	CGO_ENABLED=1 $(GO) test -race ./...

integration: $(BIN)/versitygw $(AZURITE) pushgateway chromium
	CALLRECORDS_TEST_DISALLOW_SKIP=1 CGO_ENABLED=1 $(GO) test -count=1 ./...
	cd e2e && CALLRECORDS_TEST_DISALLOW_SKIP=1 CGO_ENABLED=1 $(GO) test -count=1 ./...

e2e: $(BIN)/versitygw $(AZURITE) chromium
	cd e2e && CGO_ENABLED=1 $(GO) test -count=1 -v ./...

# staticcheck, pinned, installed into ./bin like versitygw.
$(BIN)/staticcheck:
	GOBIN=$(BIN) CGO_ENABLED=0 $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(BIN)/staticcheck
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd e2e && $(GO) vet ./...
	$(BIN)/staticcheck ./...
	cd e2e && $(BIN)/staticcheck ./...
	cd deploy/validate && $(BIN)/staticcheck ./...
	cd bench/decoders && $(GO) vet ./... && $(BIN)/staticcheck ./...

tidy-check:
	$(GO) mod tidy && git diff --exit-code go.mod go.sum
	cd e2e && $(GO) mod tidy && git diff --exit-code go.mod go.sum
	cd deploy/validate && $(GO) mod tidy && git diff --exit-code go.mod go.sum
	cd bench/decoders && $(GO) mod tidy && git diff --exit-code go.mod go.sum

# Benchmarks (BENCHMARKS.md): flatten-and-write against DuckDB on the same
# work and cores, peak RSS at 10k and 100k call records, extraction against
# Graph's throttle ceiling. About 5 minutes on 2 cores; the figures go into
# BENCHMARKS.md. The harness is in the e2e module (cgo, for DuckDB).
BENCH_FLAGS ?=
bench: build test-tools
	cd e2e && CGO_ENABLED=1 $(GO) build -o $(BIN)/bench ./cmd/bench
	$(BIN)/bench -bin $(BIN)/callrecords-etl -markdown $(CURDIR)/BENCHMARKS.md $(BENCH_FLAGS)

# The memory benchmark at 1M call records too (opt-in: an hour or more on 2
# cores, ~35 GB of JSON streamed through a pipe, ~6 GB of Parquet on disk).
bench-1m: build
	cd e2e && CGO_ENABLED=1 $(GO) build -o $(BIN)/bench ./cmd/bench
	$(BIN)/bench -bin $(BIN)/callrecords-etl -run scale -scale 100000,1000000 -markdown $(CURDIR)/BENCHMARKS.md -section bench-1m $(BENCH_FLAGS)

# What a privacy policy costs an import (issue 18): keep and
# deploy/privacy-policy.yaml alternating, archive on and off. About 5 minutes.
bench-privacy: build
	cd e2e && CGO_ENABLED=1 $(GO) build -o $(BIN)/bench ./cmd/bench
	$(BIN)/bench -bin $(BIN)/callrecords-etl -run privacy -records-per-day 150 -markdown $(CURDIR)/BENCHMARKS.md -section privacy $(BENCH_FLAGS)

# What --table-format iceberg costs an import (issue 16): Hive and Iceberg
# alternating, into a local lake and then into S3 (versitygw on loopback).
# About 8 minutes.
bench-iceberg: build $(BIN)/versitygw
	cd e2e && CGO_ENABLED=1 $(GO) build -o $(BIN)/bench ./cmd/bench
	$(BIN)/bench -bin $(BIN)/callrecords-etl -run tableformat -versitygw $(BIN)/versitygw -markdown $(CURDIR)/BENCHMARKS.md -section iceberg $(BENCH_FLAGS)

clean:
	rm -rf $(BIN) ./lake
