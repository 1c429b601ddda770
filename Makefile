# One command runs every check CI runs: `make test`.
# It installs the Python SDK used by the conformance tests into ./.venv itself; the machine
# needs the Rust toolchain, python3 (with venv) and kubectl >= 1.14 on PATH (the manifest
# and sandbox tests run `kubectl` and `kubectl kustomize`; tested with 1.32). The control-plane
# tests build Kubernetes from Debian's sources first, with apt-get (see hack/control-plane).

PYTHON ?= python3
VENV := .venv
SDK_REQUIREMENTS := cloudsim/conformance/requirements.txt

.PHONY: test tools fmt clippy unit sdk-env control-plane crds

test: tools fmt clippy sdk-env control-plane unit

# Fail at once, not after the build, when a tool the tests run is missing.
tools:
	@command -v kubectl >/dev/null || { echo "make test: kubectl (>= 1.14) must be on PATH; the manifest and sandbox tests run it" >&2; exit 1; }

fmt:
	cargo fmt --all --check

clippy:
	cargo clippy --workspace --all-targets --locked -- -D warnings

unit:
	EIP_SDK_PYTHON=$(CURDIR)/$(VENV)/bin/python cargo test --workspace --locked

# etcd, kube-apiserver, kube-scheduler and kube-controller-manager v1.20.2 for the
# control-plane tests, built from Debian's sources into ~/.cache/kube-eip (about 10 min
# the first time, a second afterwards; see hack/control-plane/README.md).
control-plane:
	hack/control-plane/fetch-and-build.sh

# The official Alibaba Cloud Python SDK, for the emulator's conformance suite.
sdk-env: $(VENV)/.installed

$(VENV)/.installed: $(SDK_REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(SDK_REQUIREMENTS)
	touch $@

# Regenerate the PodEIP CRD after changing the type (a test fails when they drift).
crds:
	cargo run --quiet -p eip-core --bin crdgen > deploy/crds/podeips.yaml
