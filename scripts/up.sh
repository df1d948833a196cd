#!/usr/bin/env bash
# Runs Switchyard in embedded mode: every service in one process on the in-memory bus and
# store, no external server needed. Extra arguments go to `switchyard`, e.g.
#   scripts/up.sh --dump-config
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --quiet --bin switchyard -- "$@" up
