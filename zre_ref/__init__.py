"""zre-ref: reference implementation of ZRE v2, ZMTP 3.1, ZRE/LOG and ZPIPES (stdlib only).

Layout: sans-IO codecs and state machines in ``zre_ref.{zmtp,zre,zrelog,zpipes}``, the only
socket/asyncio code in ``zre_ref.aio``, a deterministic simulator in ``zre_ref.sim``.
"""

__version__ = "0.1.0"
