# make demo          build the modules, run the register-user tag against a throwaway local Synapse
# make test          everything: fmt, clippy, unit tests, integration tests against real servers,
#                    the collection installed and run over SSH on a host without Python, the
#                    aarch64 binaries under qemu, molecule, ansible-test sanity
# make build         static x86_64-unknown-linux-musl module binaries into library/
# make build-aarch64 static aarch64-unknown-linux-musl module binaries (cargo zigbuild)
# make collection    the Ansible collection matrix.users: target/collection/matrix-users-<version>.tar.gz
# make collection-install [COLLECTIONS_PATH=dir]   ansible-galaxy collection install of that tarball
# make sanity        ansible-test sanity on the built collection
# make bench         benchmarks against real Synapse servers, side by side with today's way (docs/benchmarks.md)
# make bench-ssh     over SSH: the collection (binary cache cold, warm, off) against Ansible's floor and today's way
# make bench-scale   a 10,000-user list on Synapse's defaults: import, re-runs with and without credentials
# make bench-list-users  user_info listing 10,000 accounts against a curl + jq loop and a Python loop
# make bench-users-as-code  10,000 declared accounts converged in one run, 100 changed, against MDAD's way
SHELL := /bin/bash
TARGET := x86_64-unknown-linux-musl
AARCH64 := aarch64-unknown-linux-musl
# One registry of modules: the binaries in src/bin/.
MODULES := $(basename $(notdir $(wildcard src/bin/*.rs)))
# The same cache tests/servers/*.sh use.
CACHE ?= $(or $(MATRIX_TEST_CACHE),$(HOME)/.cache/matrix-users)
export MATRIX_TEST_CACHE := $(CACHE)
VENV_BIN := $(CACHE)/venv-ansible/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

VERSION := $(shell awk '/^\[/ { s = $$0 } s == "[package]" && $$1 == "version" { gsub(/"/, "", $$3); print $$3; exit }' Cargo.toml)
COLLECTION := target/collection/matrix-users-$(VERSION).tar.gz
COLLECTIONS_PATH ?= $(HOME)/.ansible/collections
X86_BINS := $(addprefix target/$(TARGET)/release/,$(MODULES))
ARM_BINS := $(addprefix target/$(AARCH64)/release/,$(MODULES))
RUST_SOURCES := Cargo.toml Cargo.lock $(shell find src -name '*.rs')
COLLECTION_SOURCES := collection/galaxy.yml collection/meta/runtime.yml docs/collection.md scripts/build-collection.sh \
	$(wildcard plugins/*/*.py) $(addprefix library/,$(addsuffix .yml,$(MODULES))) \
	playbooks/setup.yml $(shell find roles -type f)

.PHONY: build build-aarch64 toolchain venvs lint lint-ansible unit integration molecule collection \
	collection-install test-collection sanity test demo bench bench-ssh bench-scale bench-list-users bench-users-as-code clean

## Installs what a static build needs: the musl targets and Debian's musl-tools.
toolchain:
	@tests/servers/toolchains.sh targets musl

build: $(X86_BINS)
	install -m 0755 $(X86_BINS) library/
	@ls -l $(addprefix library/,$(MODULES))

$(X86_BINS) &: $(RUST_SOURCES) | toolchain
	cargo build --release --locked --target $(TARGET) $(addprefix --bin ,$(MODULES))
	@touch $(X86_BINS)

## aarch64 needs a C cross compiler for ring and the bundled SQLite: zig, through cargo-zigbuild.
build-aarch64: $(ARM_BINS)
	@ls -l $(ARM_BINS)

$(ARM_BINS) &: $(RUST_SOURCES) | toolchain
	PATH="$$(tests/servers/toolchains.sh path zig):$$PATH" \
	  cargo zigbuild --release --locked --target $(AARCH64) $(addprefix --bin ,$(MODULES))
	@touch $(ARM_BINS)

## Python environments for the controller and the real test servers (cached).
venvs:
	tests/servers/venvs.sh

collection: $(COLLECTION)

$(COLLECTION): $(X86_BINS) $(ARM_BINS) $(COLLECTION_SOURCES) | venvs
	PATH="$(VENV_BIN):$$PATH" BIN_x86_64=target/$(TARGET)/release BIN_aarch64=target/$(AARCH64)/release \
	  scripts/build-collection.sh target/collection $(MODULES)
	@ls -l $@

collection-install: $(COLLECTION)
	$(VENV_BIN)/ansible-galaxy collection install --force -p "$(COLLECTIONS_PATH)" $(COLLECTION)

## The collection installed into a temporary path, over SSH on a host without Python, and the
## aarch64 binaries under qemu (the tests themselves start the SSH host and the servers).
test-collection: $(COLLECTION) | venvs
	@tests/servers/toolchains.sh qemu ssh
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(VENV_BIN)/ansible-galaxy collection install -p "$$tmp" $(COLLECTION) > /dev/null && \
	  MATRIX_USERS_COLLECTIONS_PATH="$$tmp" cargo test --locked --test it -- collection:: aarch64:: ssh_cache::

## ansible-test sanity on the collection as built (tests/sanity/ignore-2.19.txt explains each ignore).
sanity: $(COLLECTION)
	scripts/sanity.sh $(COLLECTION)

lint:
	cargo fmt --all -- --check
	cargo clippy --locked --all-targets -- -D warnings

## ansible-lint's production profile on the playbooks, the role and setup.yml (it resolves the
## built modules in library/, hence build).
lint-ansible: build venvs
	# --offline: nothing to install for linting the checkout.
	PATH="$(VENV_BIN):$$PATH" ansible-lint --offline --profile production playbooks/ roles/ setup.yml

## Unit tests and integration tests; the integration tests start real servers themselves. They are
## one binary, tests/it/ (one module per area: `cargo test --test it AREA::` runs one area), over
## the harness in tests/common/.
unit:
	cargo test --locked --lib --bins

integration: venvs
	cargo test --locked --tests

molecule: build venvs
	PATH="$(VENV_BIN):$$PATH" molecule test --all

test: lint venvs build $(COLLECTION)
	$(MAKE) lint-ansible
	@tests/servers/toolchains.sh qemu ssh
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(VENV_BIN)/ansible-galaxy collection install -p "$$tmp" $(COLLECTION) > /dev/null && \
	  MATRIX_USERS_COLLECTIONS_PATH="$$tmp" cargo test --locked
	$(MAKE) molecule
	$(MAKE) sanity
	@echo "make test: all checks passed"

demo: build
	scripts/demo.sh

bench: build $(COLLECTION) venvs
	$(CACHE)/venv-ansible/bin/python bench/run.py
	$(CACHE)/venv-ansible/bin/python bench/ssh.py

## Over SSH on the test host: Ansible's floor (raw), register_new_matrix_user through raw, the
## collection with its binary cache cold, warm and off, one task and ten; the register-user tag.
bench-ssh: $(COLLECTION) venvs
	@tests/servers/toolchains.sh ssh
	$(CACHE)/venv-ansible/bin/python bench/ssh.py

## 10,000 users on Synapse's defaults: first import, re-runs with and without credentials.
bench-scale: build venvs
	$(CACHE)/venv-ansible/bin/python bench/scale.py

bench-list-users: build venvs
	$(CACHE)/venv-ansible/bin/python bench/list_users.py

## Users as code (issue 20): 10,000 declared accounts on Synapse's defaults, converged in one run
## (all converged; 100 changed, checked on the server), against MDAD's register_new_matrix_user per entry.
bench-users-as-code: build venvs
	$(CACHE)/venv-ansible/bin/python bench/users_as_code.py

clean:
	cargo clean
	rm -rf .demo $(addprefix library/,$(MODULES))
