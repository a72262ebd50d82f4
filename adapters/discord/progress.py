"""Live progress in the thread: one message showing the plan as steps, edited in place.

Edits are coalesced by the kit (``adapters.kit.status``): at most one write per ``interval``
seconds, the latest state winning (Discord rate-limits edits per channel, and a plan with many
quick steps would otherwise edit many times a second). ``close()`` writes the final state once more.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import discord

from adapters.common import progress_lines
from adapters.kit.status import CoalescedMessage
from orchestrator.types import EventType, ProgressEvent, TaskRun

from .render import CHUNK_LIMIT, safe

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[discord.Message]]


class ProgressMessage:
    """Receives ``ProgressEvent``s (pass ``on_event`` as the orchestrator's progress callback).

    The coalescing is the kit's (``adapters.kit.status``); this class renders the plan as Discord
    Markdown and holds the posted message to edit.
    """

    def __init__(self, send: Send, *, interval: float = 1.0) -> None:
        self._send = send
        self._runs: tuple[TaskRun, ...] = ()
        self._writing = False
        self._message: discord.Message | None = None
        self._status = CoalescedMessage(self._post, self._edit, interval=interval)

    @property
    def edits(self) -> int:
        return self._status.edits

    def adopt(self, message: discord.Message) -> None:
        """Edit ``message`` (already posted: the place in line) instead of posting a new one."""
        self._message = message
        self._status.adopt(just_written=False)

    async def on_event(self, event: ProgressEvent) -> None:
        if event.type in (EventType.PLANNED, EventType.TASK, EventType.DONE) and event.runs:
            self._runs = event.runs
        elif event.type is EventType.DELTA and self._runs and not self._writing:
            self._writing = True
        else:
            return
        self._status.show(self.render())

    def render(self) -> str:
        lines = ["**Plan**", *progress_lines(self._runs)]
        if self._writing:
            lines.append("✍️ writing the answer…")
        text = safe("\n".join(lines))
        return text if len(text) <= CHUNK_LIMIT else text[: CHUNK_LIMIT - 1] + "…"

    async def close(self) -> None:
        """Stop the coalesced edits and write the final state (without the 'writing' line)."""
        if not self._status.scheduled:  # no progress was ever shown: nothing to finish
            return
        self._writing = False
        await self._status.finish(self.render())

    async def _post(self, text: str) -> None:
        self._message = await self._send(text)

    async def _edit(self, text: str) -> None:
        assert self._message is not None  # posted or adopted before any edit
        await self._message.edit(content=text, allowed_mentions=discord.AllowedMentions.none())
