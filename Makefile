# Everyday commands. `make up` runs Switchyard embedded; `make test` runs every test,
# installing redis-server and the tansu Kafka broker first when they are missing.
.PHONY: up test deps fmt lint build loadtest

up:
	scripts/up.sh

test:
	scripts/test.sh

deps:
	scripts/deps.sh

build:
	cargo build --workspace --all-targets

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# A load-test scenario against `switchyard up` started for the run: `make loadtest SCENARIO=steady`.
SCENARIO ?= smoke
loadtest:
	cargo build --release -p switchyard -p switchyard-loadtest
	target/release/switchyard-loadtest run $(SCENARIO) --start
