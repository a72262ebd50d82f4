"""The coalescing status message: one message edited in place, over a platform's send/edit calls.

Platforms rate-limit edits (Slack's ``chat.update`` is Tier 3, Discord limits edits per channel)
while a plan can emit many progress events a second, so writes are coalesced: at most one per
``interval`` seconds, and the latest text always wins. A write in flight is never cancelled
halfway (that could post the first message twice); ``finish`` waits for it, then writes the final
text, so no stale edit can land after it. Failed writes are logged, never raised: progress is a
courtesy, the answer is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Write = Callable[[str], Awaitable[None]]


class CoalescedMessage:
    """``send(text)`` posts the message (first write), ``edit(text)`` rewrites it; ``show`` schedules.

    With ``post_on_show=False`` nothing is posted by ``show`` (the platform posts the message itself
    and calls ``adopt``); ``finish`` still posts when nothing was.
    """

    def __init__(self, send: Write, edit: Write, *, interval: float = 1.0, post_on_show: bool = True) -> None:
        self._send = send
        self._edit = edit
        self._interval = interval
        self._post_on_show = post_on_show
        self.posted = False
        self.shown = ""
        self.edits = 0
        self._pending: str | None = None
        self._last = float("-inf")
        self._wake = asyncio.Event()
        self._final = False
        self._flusher: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        return self._final

    @property
    def scheduled(self) -> bool:
        """Whether ``show`` ever scheduled a write (a status nobody saw may need no final write)."""
        return self._flusher is not None

    def adopt(self, text: str = "", *, just_written: bool = True) -> None:
        """The message exists already (posted by the platform) and shows ``text``; ``just_written``
        counts that post as the last write (the next edit waits ``interval``)."""
        self.posted = True
        self.shown = text
        if just_written:
            self._last = asyncio.get_running_loop().time()

    def show(self, text: str) -> None:
        if self._final or (not self.posted and not self._post_on_show):
            return
        self._pending = text
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop())

    async def finish(self, text: str, *, force: bool = False, before: Awaitable[None] | None = None) -> None:
        """Stop the coalesced writes and write ``text`` (``force``: even when it is already shown).
        ``before`` runs once the last coalesced write is done, before the final one."""
        self._final = True
        self._wake.set()
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        if before is not None:
            await before
        if text != self.shown or force or not self.posted:
            await self._write(text)

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending is not None and not self._final:
            wait = self._last + self._interval - loop.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                if self._final:
                    return
            text, self._pending = self._pending, None
            if text is not None and text != self.shown:
                await self._write(text)

    async def _write(self, text: str) -> None:
        self._last = asyncio.get_running_loop().time()
        try:
            if not self.posted:
                await self._send(text)
                self.posted = True
            else:
                await self._edit(text)
                self.edits += 1
            self.shown = text
        except Exception as exc:  # the platform's error: progress is a courtesy
            log.warning("status message update failed: %s", exc)
