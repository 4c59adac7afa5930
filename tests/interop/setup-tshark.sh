#!/usr/bin/env bash
# tshark for the capture tests (tests/interop/test_interop_wireshark.py): Debian's package, installed
# non-interactively (wireshark-common's "allow non-root capture" question preseeded to false).
set -euo pipefail
command -v tshark >/dev/null && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup-tshark: tshark is missing; fix: sudo apt-get install -y tshark" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
(apt-get install -y -q --no-install-recommends tshark >/dev/null 2>&1) \
  || (apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends tshark >/dev/null)
tshark --version | head -1
