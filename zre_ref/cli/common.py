"""Helpers shared by the `zre-ref` sub-commands."""

from __future__ import annotations


class UsageError(Exception):
    """Bad command-line input: `zre-ref` prints the message on one line and exits 2."""


def headers_from_args(items: list[str]) -> dict[str, str]:
    """``--header KEY=VALUE`` arguments -> a header dict (spec/zre.md#cli)."""
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"header must be KEY=VALUE, not {item!r}")
        out[key] = value
    return out


def check_endpoints(endpoints: list[str], *, bind: bool) -> None:
    """Refuse a malformed ``tcp://host:port`` / ``ipc://path`` before anything starts."""
    from ..aio.zmtp import parse_endpoint

    for endpoint in endpoints:
        try:
            parse_endpoint(endpoint, bind=bind)
        except ValueError as exc:
            raise UsageError(str(exc)) from None


def check_interface(interface: str | None) -> None:
    """Refuse an interface name or address the beacon cannot use (spec/zre.md#cli)."""
    if interface is None:
        return
    from ..aio.beacon import plan

    try:
        plan(interface)
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
