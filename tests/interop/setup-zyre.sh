#!/usr/bin/env bash
# Build the zyre (C) conformance agent for the interop tests into the folder given as $1
# (default .interop-zyre). The same code as `zre-conformance setup zyre`
# (conformance/agent_setup.py, run as a script): conformance/agents/zyre_agent.c built against the
# prebuilt libzyre.so (zyre 2.0.1) from the sha256-pinned PyPI wheel pyzyre 0.0a28, with Debian's
# libczmq and libzmq (apt-installed when missing and running as root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "${PYTHON:-python3}" "$here/../../conformance/agent_setup.py" zyre --dest "${1:-.interop-zyre}"
