"""The status message: one message in the thread that shows the job's progress, edited in place.

``chat.update`` is Tier 3 (about 50 calls a minute), and a plan can emit many TASK and DELTA
events a second, so edits are coalesced by the kit (``adapters.kit.status``): at most one
``chat.update`` per ``interval`` seconds, and the latest text always wins. In assistant threads (DMs with the agent surface turned on),
``assistant.threads.setStatus`` also shows a native "is working…" line; it is best effort.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.kit.status import CoalescedMessage
from orchestrator.types import EventType, ProgressEvent, TaskRun

from . import render
from .errors import api_error

log = logging.getLogger(__name__)


class StatusMessage:
    """Post once with ``start``, feed ``on_event`` as the orchestrator's progress callback, end with ``finish``.

    The coalescing is the kit's (``adapters.kit.status``); this class adds Slack's blocks (the
    Cancel button until finish), the length cap and the assistant status.
    """

    def __init__(self, client: AsyncWebClient, channel: str, thread_ts: str, *,
                 interval: float = 1.0, assistant: bool = False,
                 controls: list[dict[str, Any]] | None = None) -> None:
        self._client = client
        self.controls = controls  # Block Kit elements (the Cancel button) shown under the text until finish
        self.channel = channel
        self.thread_ts = thread_ts
        self.ts: str | None = None
        self._assistant = assistant
        self._message = CoalescedMessage(self._post, self._edit, interval=interval, post_on_show=False)
        self._runs: tuple[TaskRun, ...] = ()
        self._streamed = ""

    async def start(self, text: str) -> None:
        """Post the status message (raises SlackApiError: without it the thread would stay silent)."""
        resp = await self._client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, text=text,
                                                   **self._blocks(text))
        self.ts = str(resp["ts"])
        self._message.adopt(text)
        await self._set_assistant_status("is working on it…")

    @property
    def finished(self) -> bool:
        return self._message.finished

    async def on_event(self, event: ProgressEvent) -> None:
        """The ``ProgressCallback``: remember the latest state and schedule a coalesced edit."""
        if event.type in (EventType.PLANNED, EventType.TASK):
            self._runs = event.runs
        elif event.type is EventType.DELTA:
            self._streamed += event.text
        else:
            return
        self.show(render.preview(self._runs, self._streamed))

    def show(self, text: str) -> None:
        self._message.show(text)

    async def finish(self, text: str) -> None:
        """Stop the throttled edits and write ``text`` as the message's final content."""
        if self.ts is None:
            await self._message.finish(self._message.shown)  # stop it; nothing was posted to edit
            await self._set_assistant_status("")
            await self._client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, text=text)
            return
        await self._message.finish(text, force=bool(self.controls), before=self._set_assistant_status(""))

    async def _post(self, text: str) -> None:
        await self._client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, text=text)

    async def _edit(self, text: str) -> None:
        if len(text) > render.MESSAGE_LIMIT:  # a plan with many failed steps: msg_too_long would lose it all
            text = text[: render.MESSAGE_LIMIT - 1] + "…"
        try:
            await self._client.chat_update(channel=self.channel, ts=str(self.ts), text=text, **self._blocks(text))
        except SlackApiError as exc:
            raise SlackStatusError(api_error(exc)) from exc

    def _blocks(self, text: str) -> dict[str, Any]:
        """With controls: the text as a section plus the buttons; at finish, no blocks (buttons gone)."""
        if not self.controls:
            return {}
        if self._message.finished or len(text) > 2900:  # a section holds 3,000 characters at most
            return {"blocks": []}
        return {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
                           {"type": "actions", "elements": self.controls}]}

    async def _set_assistant_status(self, status: str) -> None:
        if not self._assistant:
            return
        try:
            await self._client.assistant_threads_setStatus(
                channel_id=self.channel, thread_ts=self.thread_ts, status=status)
        except SlackApiError as exc:
            # not an assistant thread, or the scope is missing: the status message is enough
            log.debug("assistant.threads.setStatus failed: %s", api_error(exc))
            self._assistant = False


class SlackStatusError(Exception):
    """chat.update refused an edit (logged by the kit as ``status message update failed: <code>``)."""
