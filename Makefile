# make demo    build the modules, run the register-user tag against a throwaway local Synapse
# make test    everything: fmt, clippy, unit tests, integration tests against real servers, molecule
# make build   static x86_64-unknown-linux-musl module binaries into library/
# make bench   benchmarks against real Synapse servers, side by side with today's way (docs/benchmarks.md)
SHELL := /bin/bash
TARGET := x86_64-unknown-linux-musl
MODULES := register_user registration_token registration_token_info user_admin
# The same cache tests/servers/venvs.sh uses.
CACHE ?= $(or $(MATRIX_TEST_CACHE),$(HOME)/.cache/matrix-users)
VENV_BIN := $(CACHE)/venv-ansible/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: build toolchain venvs lint lint-ansible unit integration molecule test demo bench clean

## Installs what a static build needs: the musl target and Debian's musl-tools.
toolchain:
	@rustup target list --installed | grep -qx $(TARGET) || rustup target add $(TARGET)
	@command -v musl-gcc >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq musl-tools; }

build: toolchain
	cargo build --release --locked --target $(TARGET) $(addprefix --bin ,$(MODULES))
	install -m 0755 $(addprefix target/$(TARGET)/release/,$(MODULES)) library/
	@ls -l $(addprefix library/,$(MODULES))

## Python environments for the controller and the real test servers (cached).
venvs:
	tests/servers/venvs.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --locked --all-targets -- -D warnings

## ansible-lint's production profile on the playbooks, the role and setup.yml (it resolves the
## built modules in library/, hence build).
lint-ansible: build venvs
	PATH="$(VENV_BIN):$$PATH" ansible-lint --profile production playbooks/ roles/ setup.yml

## Unit tests and integration tests; the integration tests start real servers themselves.
unit:
	cargo test --locked --lib --bins

integration: venvs
	cargo test --locked --tests

molecule: build venvs
	PATH="$(VENV_BIN):$$PATH" molecule test --all

test: lint venvs build
	$(MAKE) lint-ansible
	cargo test --locked
	$(MAKE) molecule
	@echo "make test: all checks passed"

demo: build
	scripts/demo.sh

bench: build venvs
	$(CACHE)/venv-ansible/bin/python bench/run.py

clean:
	cargo clean
	rm -rf .demo $(addprefix library/,$(MODULES))
