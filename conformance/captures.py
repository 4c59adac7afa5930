"""`zre-conformance run --pcap DIR`: each case's traffic as DIR/<case id>.pcap (zre_ref/capture.py).

The runner's own sockets are one end of every connection a case makes with the IUT, and its
beacon socket hears every beacon on the case's port (its own included, looped back): recording
them gives both directions of each TCP stream, in order, and every beacon, byte for byte.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import BinaryIO

from zre_ref.capture import LoopCapture
from zre_ref.pcap import PcapWriter


def pcap_name(case_id: str, seed: str, run_seed: str) -> str:
    """``<case id>.pcap``; a `--repeat` attempt with its own seed: ``<case id>.<seed>.pcap``."""
    return f"{case_id}.pcap" if seed == run_seed else f"{case_id}.{seed}.pcap"


def keep_pcap(source: str, pcap_dir: str, name: str) -> None:
    """Move a pcap written by a `--netns` child into ``pcap_dir`` as ``name`` (if it wrote one)."""
    if os.path.exists(source):
        os.makedirs(pcap_dir, exist_ok=True)
        shutil.move(source, os.path.join(pcap_dir, name))


class CaseCapture:
    """Records one case from :meth:`start` to :meth:`stop` (both safe to call when disabled)."""

    def __init__(self, pcap_dir: str | None, name: str) -> None:
        self.path = Path(pcap_dir) / name if pcap_dir else None
        self._fh: BinaryIO | None = None
        self._capture: LoopCapture | None = None

    def start(self) -> CaseCapture:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in stop()
            self._capture = LoopCapture(PcapWriter(self._fh))
            self._capture.install()
        return self

    def stop(self) -> None:
        if self._capture is not None:
            self._capture.uninstall()
            self._capture = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None
