#!/usr/bin/env bash
# The whole test suite: installs what is missing (scripts/deps.sh), then runs every test of
# the workspace (unit, conformance against in-memory + real Redis + real Kafka broker,
# embedded and distributed end to end). Servers are started by the tests on free loopback
# ports; nothing is contacted beyond 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
scripts/deps.sh
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --profile ci
else
  cargo test --workspace
fi
