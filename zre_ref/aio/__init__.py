"""zre_ref.aio: the asyncio shell over the sans-IO cores (README.md, "Rules the code keeps")."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None, errors_too: bool = False) -> None:
    """Cancel every task given (None is skipped), then wait until each has unwound. Their
    CancelledError is absorbed; with ``errors_too`` any other exception a task ended with is too
    (logged at debug level)."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    for task in live:
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:
            if not errors_too:
                raise
            log.debug("task %s ended with an error while cancelled", task.get_name(),
                      exc_info=True)
