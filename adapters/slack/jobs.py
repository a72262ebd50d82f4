"""One job = one request answered in one Slack thread: status → orchestrator → answer → files.

Whatever fails, the thread gets a readable message: the orchestrator's ``Reply.error`` text,
an ``HgbotError``'s ``user_message()``, or, for a bug, a short apology with a reference that
is also logged with the traceback.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from orchestrator.errors import HgbotError
from orchestrator.types import Artifact, ConversationKey, Reply, Request

from . import render
from .errors import api_error
from .files import FileFetcher
from .progress import StatusMessage

log = logging.getLogger(__name__)

BUG_MESSAGE = "Sorry, something went wrong on my side (reference `{ref}`). The details are in hgbot's log."


@dataclass(frozen=True)
class Job:
    """What a listener decided to answer: the thread, the request text, who asked, which files."""

    key: ConversationKey
    text: str
    user: str
    files: Sequence[Mapping[str, Any]] = ()
    assistant: bool = False  # a DM thread: also try the native assistant status

    @property
    def channel(self) -> str:
        return self.key.channel

    @property
    def thread_ts(self) -> str:
        return self.key.thread


class JobRunner:
    """Runs jobs against the orchestrator and renders them into their thread."""

    def __init__(self, orchestrator: Any, client: AsyncWebClient, fetcher: FileFetcher, *,
                 status_interval: float = 1.0) -> None:
        self._orchestrator = orchestrator
        self._client = client
        self._fetcher = fetcher
        self._interval = status_interval

    async def run(self, job: Job) -> None:
        """Answer ``job`` in its thread. Never raises: failures end as a message in the thread."""
        status = StatusMessage(self._client, job.channel, job.thread_ts,
                               interval=self._interval, assistant=job.assistant)
        try:
            await status.start("🧠 Thinking…")
            attachments = await self._fetcher.attachments(job.files)
            # delivery_id stays None: the listener already claimed the Slack event id in the store
            request = Request(conversation=job.key, text=job.text, attachments=tuple(attachments), user=job.user)
            reply = await self._orchestrator.handle(request, status.on_event)
            await self._deliver(job, status, reply)
        except HgbotError as exc:
            await self._fail(job, status, f"❌ {exc.user_message()}")
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("Slack job in %s failed (reference %s)", job.key, ref)
            await self._fail(job, status, "❌ " + BUG_MESSAGE.format(ref=ref))

    async def _deliver(self, job: Job, status: StatusMessage, reply: Reply) -> None:
        if reply.duplicate:
            await status.finish("↩️ This message was already answered.")
            return
        parts = render.chunks(reply.text or reply.error or "")
        if reply.error and not parts:
            parts = [render.escape(reply.error)]
        if reply.runs or reply.error:
            await status.finish(render.plan_summary(reply))
        elif parts:
            # a plain chat answer replaces the status message instead of following it
            await status.finish(parts.pop(0))
        else:
            await status.finish("✅ Done.")
        for part in parts:
            await self._post(job, part)
        for artifact in reply.artifacts:
            await self._upload(job, artifact)

    async def _post(self, job: Job, text: str) -> None:
        await self._client.chat_postMessage(channel=job.channel, thread_ts=job.thread_ts, text=text)

    async def _upload(self, job: Job, artifact: Artifact) -> None:
        name = artifact.filename or artifact.path.name
        try:
            await self._client.files_upload_v2(
                channel=job.channel, thread_ts=job.thread_ts, file=str(artifact.path), filename=name,
                title=name, initial_comment=render.caption(artifact))
        except (SlackApiError, OSError) as exc:
            reason = api_error(exc) if isinstance(exc, SlackApiError) else exc.__class__.__name__
            log.warning("upload of %s to %s failed: %s", name, job.key, reason)
            await self._post(job, f"⚠️ I made {render.escape(name)} but could not upload it ({reason}).")

    async def _fail(self, job: Job, status: StatusMessage, text: str) -> None:
        try:
            if status.ts is None or status.finished:
                await self._post(job, text)
            else:
                await status.finish(text)
        except Exception:
            log.exception("could not report a failure in %s", job.key)
