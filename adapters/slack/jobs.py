"""One job = one request answered in one Slack thread: status → queue → orchestrator → answer → files.

The job is already a row in the store (``orchestrator.jobs``) when this runs: the listener
wrote it before Slack was acknowledged. The status message shows the place in line with a
Cancel button; the job layer runs the work when the fair queue gives it a slot.

Whatever fails, the thread gets a readable message: the orchestrator's ``Reply.error`` text,
an ``HgbotError``'s ``user_message()``, or, for a bug, a short apology with a reference that
is also logged with the traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.kit.host import needs_jobs
from adapters.kit.turn import Failure, guarded
from orchestrator.errors import HgbotError
from orchestrator.jobs import INTERRUPTED_TEXT, JobContext, queue_text
from orchestrator.jobtypes import JobRecord, JobState
from orchestrator.service import ChatService, JobService
from orchestrator.types import Artifact, ConversationKey, Reply, Request

from . import render
from .errors import api_error
from .files import FileFetcher
from .progress import StatusMessage

log = logging.getLogger(__name__)

CANCEL_ACTION, RETRY_ACTION = "hgbot_cancel", "hgbot_retry"
# the agent session of a thread: Slack shows its native stop button while it is "processing"
PROCESSING, ACTIVE = "processing", "active"
BUG_MESSAGE = "Sorry, something went wrong on my side (reference `{ref}`). The details are in hgbot's log."


@dataclass(frozen=True)
class Job:
    """What a listener decided to answer: the thread, the request text, who asked, which files."""

    key: ConversationKey
    text: str
    user: str
    files: Sequence[Mapping[str, Any]] = ()
    assistant: bool = False  # a DM thread: also try the native assistant status
    record: JobRecord | None = None  # the durable job, once accepted
    intro: str = ""  # a slash command: posted first, it becomes the thread
    response_url: str = ""  # a slash command's way to answer where hgbot cannot post

    @property
    def payload(self) -> dict[str, Any]:
        return {"files": [dict(f) for f in self.files], "assistant": self.assistant, "intro": self.intro,
                "response_url": self.response_url}

    @classmethod
    def from_record(cls, record: JobRecord) -> Job:
        p = record.payload
        return cls(record.key, record.text, record.user, list(p.get("files") or []), bool(p.get("assistant")),
                   record, str(p.get("intro") or ""), str(p.get("response_url") or ""))

    @property
    def channel(self) -> str:
        return self.key.channel

    @property
    def thread_ts(self) -> str:
        return self.key.thread


class JobRunner:
    """Runs jobs against the orchestrator and renders them into their thread."""

    def __init__(self, service: ChatService, client: AsyncWebClient, fetcher: FileFetcher, *,
                 status_interval: float = 1.0) -> None:
        self._service = service
        self._client = client
        self._fetcher = fetcher
        self._interval = status_interval

    @property
    def _jobs(self) -> JobService:
        return needs_jobs(self._service)

    async def run(self, job: Job) -> None:
        """Answer ``job`` (accepted: ``job.record`` is set) in its thread. Never raises: failures end
        as a message in the thread."""
        assert job.record is not None, "accept the job before running it"
        record = job.record
        try:
            if not job.thread_ts:  # a slash command: its intro message becomes the thread
                resp = await self._client.chat_postMessage(channel=job.channel, text=job.intro or job.text)
                await self._jobs.set_job_thread(record.id, str(resp["ts"]))
                key = replace(job.key, thread=str(resp["ts"]))
                record = replace(record, key=key)
                job = replace(job, key=key, record=record)
        except SlackApiError as exc:
            log.warning("cannot post in %s: %s", job.channel, api_error(exc))
            await self._jobs.end_job(record.id, JobState.FAILED, api_error(exc))
            if job.response_url:  # it works where the bot is not a member, unlike chat.postEphemeral
                await AsyncWebhookClient(job.response_url).send(
                    text=f"I can't post here ({api_error(exc)}); invite me with `/invite @hgbot` first.",
                    response_type="ephemeral")
            return
        status = StatusMessage(self._client, job.channel, job.thread_ts, interval=self._interval,
                               assistant=job.assistant, controls=[render.button("Cancel", CANCEL_ACTION, record.id)])

        async def on_move(position: int, eta: float | None) -> None:
            status.show(queue_text(position, eta))

        processing = False

        async def work(ctx: JobContext) -> None:
            nonlocal processing
            status.show("🧠 Thinking…")
            processing = True
            await set_agent_status(self._client, job.channel, job.thread_ts, PROCESSING)

            async def answer() -> None:
                attachments = await self._fetcher.attachments(job.files)
                # delivery_id stays None: the listener already claimed the Slack event id in the store
                request = Request(conversation=job.key, text=job.text, attachments=tuple(attachments), user=job.user)
                reply = await self._service.handle(request, ctx.progress(status.on_event))
                ctx.deliver()
                await self._deliver(job, status, reply)

            failed = await guarded(answer, where=f"Slack job in {job.key}")
            if isinstance(failed, Failure):
                await self._fail(job, status, "❌ " + (BUG_MESSAGE.format(ref=failed.ref) if failed.bug else failed.text))

        async def on_cancel(text: str) -> None:
            await self._fail(job, status, text)

        try:
            await status.start("🧠 Thinking…")
        except SlackApiError as exc:  # the status is cosmetic; the job still runs and answers
            log.warning("status message in %s failed: %s", job.key, api_error(exc))
        await self._jobs.run(record, work, on_move=on_move, on_cancel=on_cancel)
        if processing:  # Slack leaves the session processing (and its stop button shown) until told
            await set_agent_status(self._client, job.channel, job.thread_ts, ACTIVE)

    async def notify_interrupted(self, record: JobRecord) -> None:
        """Tell the thread its job died with the process, with a Retry button (raises SlackApiError)."""
        await self._client.chat_postMessage(
            channel=record.key.channel, thread_ts=record.key.thread or None, text=INTERRUPTED_TEXT,
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": INTERRUPTED_TEXT}},
                    {"type": "actions", "elements": [render.button("Retry", RETRY_ACTION, record.id)]}])
        if record.key.thread:  # the dead process left its agent session processing
            await set_agent_status(self._client, record.key.channel, record.key.thread, ACTIVE)

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
            # bytes through the blob store: this replica may not hold the file on its disk
            data = await self._service.artifact_bytes(artifact)
            await self._client.files_upload_v2(
                channel=job.channel, thread_ts=job.thread_ts, content=data, filename=name,
                title=name, initial_comment=render.caption(artifact))
        except (SlackApiError, OSError, HgbotError) as exc:
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


async def set_agent_status(client: AsyncWebClient, channel: str, thread_ts: str, status: str) -> None:
    """``agents.sessions.setStatus`` for the thread, best effort: only apps declared as agents may
    call it (others get an error), and the answer in the thread does not depend on it."""
    try:
        # slack_sdk has no helper for this method yet
        await client.api_call("agents.sessions.setStatus",
                              json={"channel": channel, "thread_ts": thread_ts, "status": status})
    except SlackApiError as exc:
        log.debug("agents.sessions.setStatus %s in %s/%s: %s", status, channel, thread_ts, api_error(exc))
