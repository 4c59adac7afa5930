"""`zre-ref`: every bad command line gives one clear line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from zre_ref.cli import main
from zre_ref.registry import codecs

ENCODABLE = sorted(name for name, codec in codecs().items() if codec.encode is not None)


def _usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 2, (argv, captured)
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert captured.out == ""
    return lines[0]


@pytest.mark.parametrize("protocol", ENCODABLE)
@pytest.mark.parametrize("text", ["[]", "1", "null", '"PING"', "[{}]", "{", ""])
def test_encode_refuses_anything_but_an_object(capsys: pytest.CaptureFixture[str],
                                               protocol: str, text: str) -> None:
    line = _usage_error(capsys, "encode", "--protocol", protocol, text)
    assert line.startswith("zre-ref encode: ") and ("JSON" in line)


def test_encode_field_errors_stay_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    """A JSON object the encoder refuses is a finding (exit 1, JSON on stdout), not a usage error."""
    assert main(["encode", "--protocol", "zmtp-greeting", '{"padding": "00"}']) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "encode"


@pytest.mark.parametrize("argv", [
    ["listen", "--no-beacon", "--header", "no-equals-sign"],
    ["listen", "--no-beacon", "--connect", "tcp://*:5"],
    ["shout", "G", "x", "--no-beacon", "--bind", "udp://127.0.0.1:5"],
    ["listen", "--interface", "no-such-interface-xyz"],
    ["log-collector", "--no-zre", "--bind", "garbage"],
    ["log-collector", "--interface", "no-such-interface-xyz"],
    ["zpipes-broker", "--bind", "tcp://127.0.0.1"],
    ["zpipes-broker", "--max-client-bytes", "0"],
    ["zpipes-broker", "--max-reply-bytes", "0"],
    ["pipe", "read", "x", "--broker", "ipc://"],
])
def test_bad_arguments_are_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    line = _usage_error(capsys, *argv)
    assert line.startswith(f"zre-ref {argv[0]}: ")


def test_module_entry_point_without_traceback() -> None:
    """The reported case: `zre-ref encode --protocol zmtp-greeting '[]'` (issue 10 item 8)."""
    proc = subprocess.run([sys.executable, "-m", "zre_ref.cli", "encode", "--protocol",
                           "zmtp-greeting", "[]"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "zre-ref encode: expected a JSON object of fields, not list"
    ok = subprocess.run([sys.executable, "-m", "zre_ref.cli", "encode", "--protocol",
                         "zmtp-greeting", "{}"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith("ff00000000000000007f03")
