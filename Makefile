# One command runs every check CI runs: `make test`.
# It installs what it needs itself (the Python SDK used by the conformance tests goes
# into ./.venv), so a fresh machine with the Rust toolchain and python3 is enough.

PYTHON ?= python3
VENV := .venv
SDK_REQUIREMENTS := cloudsim/conformance/requirements.txt

.PHONY: test fmt clippy unit sdk-env crds

test: fmt clippy sdk-env unit

fmt:
	cargo fmt --all --check

clippy:
	cargo clippy --workspace --all-targets --locked -- -D warnings

unit:
	EIP_SDK_PYTHON=$(CURDIR)/$(VENV)/bin/python cargo test --workspace --locked

# The official Alibaba Cloud Python SDK, for the emulator's conformance suite.
sdk-env: $(VENV)/.installed

$(VENV)/.installed: $(SDK_REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(SDK_REQUIREMENTS)
	touch $@

# Regenerate the PodEIP CRD after changing the type (a test fails when they drift).
crds:
	cargo run --quiet -p eip-core --bin crdgen > deploy/crds/podeips.yaml
