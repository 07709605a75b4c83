"""One PyBullet physics client per simulated robot, released exactly once.

Every PyBullet simulator here connects its own client (``p.connect(p.DIRECT)``) and keeps its id in
``self._client``; this mixin disconnects it on ``close()``, on leaving a ``with`` block, or when the
object is collected, and tolerates interpreter shutdown (when the module may be half torn down).
"""
from __future__ import annotations

import contextlib
from types import TracebackType

try:
    import pybullet as p
except ImportError:  # the [sim] extra is absent: no client can have been made
    p = None

from typing import Self


class PyBulletClientOwner:
    """Mixin: ``close()`` / context manager / ``__del__`` for an object holding ``self._client``."""

    _client: int | None

    def close(self) -> None:
        """Disconnect this instance's physics client (idempotent)."""
        client, self._client = getattr(self, "_client", None), None
        if client is not None and p is not None:
            with contextlib.suppress(Exception):  # at shutdown pybullet may raise anything, or be half gone
                if p.isConnected(physicsClientId=client):
                    p.disconnect(physicsClientId=client)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
