"""Live progress in the thread: one message showing the plan as steps, edited in place.

Edits are coalesced: state changes mark the view dirty and a single flusher writes it at most once
per ``interval`` seconds (Discord rate-limits edits per channel, and a plan with many quick steps
would otherwise edit many times a second). ``close()`` writes the final state once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import discord

from adapters.common import progress_lines
from orchestrator.types import EventType, ProgressEvent, TaskRun

from .render import CHUNK_LIMIT, safe

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[discord.Message]]


class ProgressMessage:
    """Receives ``ProgressEvent``s (pass ``on_event`` as the orchestrator's progress callback)."""

    def __init__(self, send: Send, *, interval: float = 1.0) -> None:
        self._send = send
        self._interval = interval
        self._runs: tuple[TaskRun, ...] = ()
        self._writing = False
        self._message: discord.Message | None = None
        self._shown = ""
        self._dirty = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # a write is never cancelled halfway (no doubled first message)
        self.edits = 0

    def adopt(self, message: discord.Message) -> None:
        """Edit ``message`` (already posted: the place in line) instead of posting a new one."""
        self._message = message

    async def on_event(self, event: ProgressEvent) -> None:
        if event.type in (EventType.PLANNED, EventType.TASK, EventType.DONE) and event.runs:
            self._runs = event.runs
        elif event.type is EventType.DELTA and self._runs and not self._writing:
            self._writing = True
        else:
            return
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop())
        self._dirty.set()

    def render(self) -> str:
        lines = ["**Plan**", *progress_lines(self._runs)]
        if self._writing:
            lines.append("✍️ writing the answer…")
        text = safe("\n".join(lines))
        return text if len(text) <= CHUNK_LIMIT else text[: CHUNK_LIMIT - 1] + "…"

    async def close(self) -> None:
        """Stop the flusher and write the final state (without the 'writing' line)."""
        if self._flusher is None:
            return
        async with self._lock:
            self._flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._flusher
        self._writing = False
        async with self._lock:
            await self._write()

    async def _flush_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            async with self._lock:
                await self._write()
            await asyncio.sleep(self._interval)

    async def _write(self) -> None:
        text = self.render()
        if text == self._shown:
            return
        try:
            if self._message is None:
                self._message = await self._send(text)
            else:
                await self._message.edit(content=text, allowed_mentions=discord.AllowedMentions.none())
                self.edits += 1
            self._shown = text
        except discord.HTTPException as exc:  # progress is a courtesy; the answer still goes out
            log.warning("progress update failed: %s", exc)
