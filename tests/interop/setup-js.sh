#!/usr/bin/env bash
# Install zyre.js (npm) for the interop tests into the folder given as $1 (default .interop-js).
# The same code as `zre-conformance setup zyre.js` (conformance/agent_setup.py, run as a script so
# that it works before the package is installed): zyre.js 1.3.0 with zeromq.js's addon built
# against the system libzmq (libzmq3-dev, apt-installed when missing and running as root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "${PYTHON:-python3}" "$here/../../conformance/agent_setup.py" zyre.js --dest "${1:-.interop-js}"
