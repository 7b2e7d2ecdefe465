# flinkd — see README.md. Every target provisions what it needs (a Docker engine included).
SHELL := bash
GO ?= go
BIN := bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test test-short lint fmt sim-image flink-image kube-bins ensure-docker fuzz bench soak clean help

all: build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/flinkd and bin/flinkctl
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/flinkd ./cmd/flinkd
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/flinkctl ./cmd/flinkctl

run: build ensure-docker sim-image ## start flinkd on ./specs with the local Docker engine (Ctrl-C stops flinkd; clusters keep running)
	bash hack/run.sh

test: lint ## everything: provision Docker, the stand-in image and a Kubernetes control plane, then all tests
	bash hack/test.sh

test-short: ## unit tests only (no engine, no control plane needed)
	$(GO) test -short ./...

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt: ## gofmt -w
	gofmt -w $$(git ls-files '*.go')

ensure-docker: ## make sure a Docker engine answers (installs and starts one as root on Debian)
	bash hack/ensure-docker.sh

sim-image: ensure-docker ## build the Flink stand-in images localhost/flink-sim:1.18, :1.20 and :2.2
	bash hack/sim-image.sh 1.18
	bash hack/sim-image.sh 1.20
	bash hack/sim-image.sh 2.2

flink-image: ensure-docker ## build the real-Flink test images localhost/flink-real:1.20 and :2.2 from Flink's jars (cached; see hack/flink-image.sh)
	bash hack/flink-image.sh 1.20 2.2

kube-bins: ## build (once; cached) etcd, kube-apiserver, controller-manager, scheduler and kwok for the kube tests
	bash hack/kube-test-bins.sh >/dev/null

fuzz: ## fuzz the SessionCluster decoder (FUZZTIME=1000000x, about 3 minutes on 2 cores)
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $${FUZZTIME:-1000000x} -parallel 2 ./internal/spec

bench: ensure-docker sim-image ## benchmarks (see docs/benchmarks.md)
	bash hack/bench.sh

soak: ensure-docker sim-image ## chaos soak: 120 SIGKILLs of flinkd while files change (FLINKD_CHAOS_KILLS, FLINKD_CHAOS_SEED), then everything as the files say
	bash hack/soak.sh

clean: ## remove build output
	rm -rf $(BIN)
