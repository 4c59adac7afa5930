#!/usr/bin/env bash
# Build the zyre (C) conformance agent for the interop tests into the folder given as $1
# (default .interop-zyre). Debian has no libzyre package and GitHub is unreachable here, so the
# library under test is the prebuilt libzyre.so (zyre 2.0.x, x86-64 Linux, no headers) inside the
# PyPI wheel pyzyre 0.0a28, pinned by sha256. It runs against Debian's libczmq 4.2.1 and libzmq
# 4.3.4 (the wheel's own libczmq/libzmq are Python-2 extension builds and are not used);
# conformance/agents/zyre_agent.c declares the zyre API itself when zyre.h is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
here=$(cd "$(dirname "$0")" && pwd)
agent_src="$here/../../conformance/agents/zyre_agent.c"
dest=${1:-.interop-zyre}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
wheel=pyzyre-0.0a28-py27-none-any.whl
wheel_sha256=f4f88eeb6a0a3c9d70507cfa518bba9be2c56136d8e72d84232296dfec20d439
python=${PYTHON:-python3}

smoke() {
  printf '{"id":1,"cmd":"hello"}\n' | timeout 10 "$dest/zyre_agent" 2>/dev/null | grep -q '"ok":true'
}

if [ -x "$dest/zyre_agent" ] && [ "$dest/zyre_agent" -nt "$agent_src" ] && smoke; then
  exit 0
fi
if [ "$(uname -m)" != x86_64 ] || [ "$(uname -s)" != Linux ]; then
  echo "setup-zyre: the prebuilt libzyre.so is x86-64 Linux only" >&2
  exit 1
fi

# Build dependencies (Debian names): czmq + libzmq headers, jansson, pkg-config, a C compiler.
need=()
pkg-config --exists libczmq 2>/dev/null || need+=(libczmq-dev)
pkg-config --exists libzmq 2>/dev/null || need+=(libzmq3-dev)
pkg-config --exists jansson 2>/dev/null || need+=(libjansson-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v cc >/dev/null || need+=(gcc libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1) \
      || (apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null)
  else
    echo "setup-zyre: missing ${need[*]} and not root; install them first" >&2
    exit 1
  fi
fi

# The wheel is tagged py27; --python-version lets pip fetch it without installing or building anything.
if [ ! -f "$dest/dl/$wheel" ]; then
  "$python" -m pip download --quiet --no-deps --only-binary :all: --python-version 2.7 \
    pyzyre==0.0a28 -d "$dest/dl"
fi
echo "$wheel_sha256  $dest/dl/$wheel" | sha256sum -c --quiet -
mkdir -p "$dest/lib"
"$python" - "$dest/dl/$wheel" "$dest/lib/libzyre.so" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, open(sys.argv[2], "wb") as out:
    out.write(wheel.read("zyre/libzyre.so"))
EOF

# libzyre.so leaves Py_InitModule4_64 (its unused Python-2 module init) undefined: allow that at
# link time; it is never called, and lazy binding never resolves it.
# shellcheck disable=SC2046
cc -std=gnu11 -O2 -Wall -o "$dest/zyre_agent" "$agent_src" -L"$dest/lib" -lzyre \
  $(pkg-config --cflags --libs libczmq libzmq jansson) \
  -Wl,-rpath,"$dest/lib" -Wl,--allow-shlib-undefined -Wl,-z,lazy
smoke || { echo "setup-zyre: the built agent does not answer hello" >&2; exit 1; }
