"""Bytes queued as the chunks they arrived in, handed out in order (spec/zpipes.md#broker-semantics).

Used for a pipe's buffer in the broker and a reader's buffer in the client.
"""

from __future__ import annotations

from collections import deque


class ChunkBuffer:
    """A byte queue that keeps chunks as given: a take of exactly one whole chunk is not copied."""

    __slots__ = ("_chunks", "_head", "_size")

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._head = 0  # bytes of _chunks[0] already handed out
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def feed(self, data: bytes) -> None:
        """Queue ``data`` (an empty chunk is dropped)."""
        if data:
            self._chunks.append(data)
            self._size += len(data)

    def take(self, n: int) -> bytes:
        """Remove and return ``min(n, len(self))`` bytes in order (all of them if n < 0)."""
        if n < 0 or n > self._size:
            n = self._size
        parts: list[bytes] = []
        need = n
        while need:
            head = self._chunks[0]
            avail = len(head) - self._head
            if avail <= need:
                parts.append(head[self._head:] if self._head else head)
                self._chunks.popleft()
                self._head = 0
                need -= avail
            else:
                parts.append(head[self._head:self._head + need])
                self._head += need
                need = 0
        self._size -= n
        return parts[0] if len(parts) == 1 else b"".join(parts)
