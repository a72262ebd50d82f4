"""The cancel flag a job sets and the executor checks before starting a pending step.

Cancelling a job cancels its asyncio task, which already stops every step still waiting on its
dependencies. The flag covers what cancellation cannot reach: a step whose wait had just
finished when the cancel came, and code that swallowed the ``CancelledError``. It lives in a
context variable so the executor needs no job argument: tasks copy the context when created.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_FLAG: ContextVar[asyncio.Event | None] = ContextVar("hgbot_cancel", default=None)


def requested() -> bool:
    """Whether the job this code runs for has been cancelled."""
    flag = _FLAG.get()
    return flag is not None and flag.is_set()


@contextmanager
def scope(flag: asyncio.Event) -> Iterator[None]:
    token = _FLAG.set(flag)
    try:
        yield
    finally:
        _FLAG.reset(token)
