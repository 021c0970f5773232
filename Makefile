# Kelos (Rust). The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kelos
export CARGO_TARGET_DIR ?= $(CACHE_DIR)/cargo-target
CARGO ?= cargo

.PHONY: test run cluster bench crds fmt lint test-bins prometheus

## test: everything CI runs: formatting, CRD drift, unit and control-plane tests.
test: test-bins prometheus
	$(CARGO) fmt --all -- --check
	$(CARGO) test --workspace --locked --no-fail-fast

## test-bins: build (once, cached) kube-apiserver, etcd, kwok and helm from the Go module proxy.
test-bins:
	@hack/test-bins.sh >/dev/null
	@hack/helm.sh >/dev/null

## prometheus: install Debian's prometheus package (prometheus, promtool) if missing; the
## Prometheus test starts its own server on 127.0.0.1.
prometheus:
	@hack/prometheus.sh >/dev/null

## crds: regenerate config/crd and the chart's crds/ from the Rust types.
crds:
	$(CARGO) run --quiet -p kelos-api --bin crdgen -- --out config/crd --out charts/kelos/crds

## cluster: start a standalone local control plane and print its KUBECONFIG (Ctrl-C stops it).
cluster: test-bins
	$(CARGO) run --quiet -p kelos-testenv --bin kelos-cluster

## run: the narrated local demo (crates/kelos-run): simulated cluster + CRDs, fake GitHub, controller
## and spawners; Tasks created, running, succeeding, one cancelled; stays up until Ctrl-C.
## KELOS_RUN_EXIT_AFTER_DEMO=1 exits after the demo; GITHUB_TOKEN + KELOS_RUN_REPO=owner/repo: real GitHub.
run: test-bins
	$(CARGO) build --quiet -p kelos-controller -p kelos-spawner -p kelos-run
	$(CARGO_TARGET_DIR)/debug/kelos-run

## bench: performance figures on the local control plane.
bench: test-bins
	$(CARGO) run --release --quiet -p kelos-controller --example bench

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings
