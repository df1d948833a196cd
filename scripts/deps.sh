#!/usr/bin/env bash
# Installs what the test suite needs when it is missing, and only then:
#   - redis-server (Debian package)
#   - tansu, a Kafka-protocol broker (crates.io; `memory://` storage needs --features dynostore)
# A second run finds both and returns at once. Building Switchyard itself needs only the
# Rust toolchain, gcc and make (librdkafka is built from the rdkafka-sys crate).
set -euo pipefail

TANSU_VERSION="${TANSU_VERSION:-0.6.0}"
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

have() { command -v "$1" >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/$1" ]; }

missing_debs=()
have redis-server || missing_debs+=(redis-server)
if [ "${#missing_debs[@]}" -gt 0 ]; then
  echo "deps: installing ${missing_debs[*]} (apt-get)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing_debs[@]}" >/dev/null
fi

if ! have tansu; then
  echo "deps: installing tansu ${TANSU_VERSION} (cargo install; takes ~15 min on 2 cores, once)"
  cargo install tansu --version "${TANSU_VERSION}" --locked --features dynostore --quiet
fi

echo "deps: redis-server $(redis-server --version | awk '{print $3}'), tansu at $(command -v tansu || echo "$HOME/.cargo/bin/tansu")"
