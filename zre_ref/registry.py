"""Which protocols `zre-ref decode/encode` knows, and which modules add CLI commands.

Each entry of :data:`CODEC_MODULES` is a module exposing ``CLI_CODECS: list[CliCodec]``.
Each entry of :data:`COMMAND_MODULES` exposes ``add_commands(subparsers) -> None``; a command
sets ``func`` (argparse.Namespace -> int exit code) with ``set_defaults``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: Modules that contribute protocols to `zre-ref decode` / `zre-ref encode`.
CODEC_MODULES: tuple[str, ...] = (
    "zre_ref.zmtp.jsonform",
    "zre_ref.zre.jsonform",
    "zre_ref.zrelog.jsonform",
    "zre_ref.zpipes.jsonform",
    "zre_ref.zgossip.jsonform",
)

#: Modules that contribute sub-commands to `zre-ref`.
COMMAND_MODULES: tuple[str, ...] = (
    "zre_ref.cli.zre",
    "zre_ref.cli.zrelog",
    "zre_ref.cli.zpipes",
    "zre_ref.cli.vectors",
    "zre_ref.agent",
    "zre_ref.cli.curve",
    "zre_ref.cli.capture",
    "zre_ref.cli.wireshark",
    "zre_ref.cli.doctor",
)


@dataclass(frozen=True)
class CliCodec:
    """A protocol as the CLI sees it: frames <-> JSON fields."""

    name: str
    summary: str
    #: frames -> JSON-able dict; raises DecodeError
    decode: Callable[[Sequence[bytes]], dict[str, Any]]
    #: JSON-able dict -> frames; raises EncodeError. None if the protocol cannot be encoded.
    encode: Callable[[dict[str, Any]], list[bytes]] | None = None


def _optional_modules(names: Sequence[str]) -> list[Any]:
    mods = []
    for name in names:
        try:
            mods.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside an existing module
                raise
    return mods


def codecs() -> dict[str, CliCodec]:
    out: dict[str, CliCodec] = {}
    for mod in _optional_modules(CODEC_MODULES):
        for codec in mod.CLI_CODECS:
            out[codec.name] = codec
    return out


def command_modules() -> list[Any]:
    return _optional_modules(COMMAND_MODULES)
