#!/usr/bin/env bash
# Install zyre.js (npm) for the interop tests into the folder given as $1 (default .interop-js).
# zeromq.js 5.3.1 under zyre.js 1.3.0 ships no prebuilt addon for Node >= 20, and its fallback
# downloads libzmq from GitHub, which is unreachable here: build its addon against the system
# libzmq instead (Debian libzmq3-dev; installed with apt-get when missing and running as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# tox passes only a few variables through; a registry reached through a TLS-inspecting proxy needs
# the system CA bundle, which Node reads from NODE_EXTRA_CA_CERTS (npm's own cafile is not enough).
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi
dest=${1:-.interop-js}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
if [ -f "$dest/node_modules/zyre.js/package.json" ] && node -e "require('$dest/node_modules/zyre.js')" 2>/dev/null; then
  exit 0
fi
if ! pkg-config --exists libzmq 2>/dev/null && [ ! -f /usr/include/zmq.h ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q libzmq3-dev >/dev/null 2>&1) || (apt-get update -q >/dev/null && apt-get install -y -q libzmq3-dev >/dev/null)
  else
    echo "setup-js: libzmq3-dev is missing and we are not root; install it to build zyre.js" >&2
    exit 1
  fi
fi
mkdir -p "$dest"
[ -f "$dest/package.json" ] || printf '{"name":"zre-ref-interop-js","private":true}\n' > "$dest/package.json"
npm_config_zmq_external=true npm install --prefix "$dest" --no-audit --no-fund --loglevel=error \
  --fetch-retries=2 --fetch-timeout=60000 zyre.js@1.3.0
node -e "require('$dest/node_modules/zyre.js')"
