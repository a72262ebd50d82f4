"""What hgbot answers in Slack, and where: the slash command, mentions, thread replies and DMs.

Each listener decides (cheap checks first, no I/O), claims the delivery in the store so a
redelivered event is processed once, checks access, records the ``Job`` in the store, then
hands it to the ``JobRunner``. The app runs with ``process_before_response``: Slack gets its
ack when the listener returns, so an acknowledged request is always a job row first.

Buttons: Cancel on a status message (``hgbot_cancel``) and Retry on an interrupted notice
(``hgbot_retry``); ``/hgbot cancel`` and a ``retry`` reply in the thread do the same. Slack's
native stop button of an agent session (``agent_session_stopped``) cancels as Cancel does.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.common import AccessPolicy
from adapters.kit.host import needs_jobs
from orchestrator.errors import JobRefused
from orchestrator.jobtypes import JobRecord, JobState
from orchestrator.service import ChatService, JobService
from orchestrator.types import ConversationKey

from . import render
from .errors import api_error
from .files import recent_shared_files
from .jobs import ACTIVE, Job, JobRunner, set_agent_status

log = logging.getLogger(__name__)

# a user's plain message, one with files, or one also sent to the channel; edits, joins,
# bot posts and the rest are not requests
_ANSWERED_SUBTYPES = {None, "file_share", "thread_broadcast"}

_KNOWN_THREADS = 10_000
_RETRYABLE = (JobState.INTERRUPTED, JobState.CANCELLED, JobState.FAILED)
# a "stop" reply stops the request running in any thread; in an agent session Slack's own stop
# button sends agent_session_stopped (on_agent_stop)
_STOP_WORDS = {"stop", "cancel"}
Ack = Callable[..., Awaitable[None]]


class Listeners:
    """Bolt listeners bound to one hgbot App. Jobs run as tasks so the listener returns at once."""

    def __init__(self, runner: JobRunner, service: ChatService, policy: AccessPolicy, command: str,
                 client: AsyncWebClient | None = None) -> None:
        self._runner = runner
        self._service = service
        self._client = client
        self._claim = service.claim_delivery
        self._policy = policy
        self._command = command
        self._tasks: set[asyncio.Task[None]] = set()
        # threads this process answered in: a reply there needs no conversations.replies call
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()

    @property
    def _jobs(self) -> JobService:
        return needs_jobs(self._service)

    async def drain(self) -> None:
        """Wait for the jobs in flight (shutdown and tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _start(self, job: Job) -> None:
        self._known[(job.channel, job.thread_ts)] = None
        while len(self._known) > _KNOWN_THREADS:
            self._known.popitem(last=False)
        task = asyncio.create_task(self._runner.run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, job: Job, client: AsyncWebClient, delivery: str | None) -> None:
        """Record the job and claim its delivery in one transaction (before the ack: the listener's
        return is the ack), then start it. A delivery claimed before starts nothing."""
        try:
            record = await self._jobs.accept(job.key, user=job.user, text=job.text, payload=job.payload,
                                             delivery_id=delivery)
        except JobRefused as exc:  # over quota: said to the user only
            if delivery is None or await self._claim(delivery):
                await _tell(client, job.channel, job.user, exc.user_message(), job.thread_ts or None)
            return
        if record is not None:
            self._start(replace(job, record=record))

    async def recover(self) -> None:
        """At start-up: tell the threads of jobs that died with a previous process (Retry button),
        and run the jobs it left queued."""
        await self.take(*await self._jobs.recover(["slack"]))

    async def take(self, interrupted: list[JobRecord], queued: list[JobRecord]) -> None:
        """Jobs of a stopped process (start-up or a sweep while serving): tell, then run."""
        for record in interrupted:
            try:
                await self._runner.notify_interrupted(record)
            except SlackApiError as exc:
                log.warning("cannot tell %s that job %s was interrupted: %s", record.key, record.id, api_error(exc))
                continue
            await self._jobs.notified(record.id)
        for record in queued:
            self._start(Job.from_record(record))

    async def on_cancel_action(self, ack: Ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        """The Cancel button of a status message."""
        await ack()
        user, channel, job_id = _action(body)
        try:
            await self._jobs.request_cancel(job_id, user)  # Socket Mode may hand it to another replica
        except JobRefused as exc:
            await _tell(client, channel, user, exc.user_message(), _action_thread(body))

    async def on_agent_stop(self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        """``agent_session_stopped``: Slack's stop button in a processing agent session. Cancels the job
        in flight in that thread by the Cancel button's rules, then moves the session to active (Slack
        does not: the button stays until the app does). A refused stop leaves the job running and the
        session processing; the job's end sets it active."""
        if not await self._claim(_delivery(event, body)):
            return
        user, channel, thread_ts = str(event.get("user", "")), str(event.get("channel", "")), str(event.get("thread_ts", ""))
        key = ConversationKey("slack", str(body.get("team_id") or ""), channel, thread_ts)
        job_id = await self._jobs.running_in(key)
        if job_id is not None:
            try:
                await self._jobs.request_cancel(job_id, user)
            except JobRefused as exc:
                await _tell(client, channel, user, exc.user_message(), thread_ts or None)
                return
        await set_agent_status(client, channel, thread_ts, ACTIVE)

    async def on_retry_action(self, ack: Ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        """The Retry button of an interrupted notice: the same request again, once."""
        await ack()
        user, channel, job_id = _action(body)
        reason = self._policy.check(user, channel)
        if reason:
            await _tell(client, channel, user, reason, _action_thread(body))
            return
        record = await self._jobs.get_job(job_id)
        if record is not None:
            await self._retry(record, user, client)

    async def _retry(self, record: JobRecord, user: str, client: AsyncWebClient) -> None:
        # claimed with the new job: a double click, or a second retry, runs it once
        await self._accept(replace(Job.from_record(record), user=user, record=None), client,
                           f"slack:retry:{record.id}")

    async def on_command(self, ack: Ack, command: dict[str, Any], client: AsyncWebClient) -> None:
        """``/hgbot <request>``: ack now, post a message that becomes the job's thread, work there.

        A slash command carries no files and no thread, so it uses the files of the user's latest
        message in the channel if it is less than 15 minutes old (share the image, then run the command).
        """
        user, channel, text = command.get("user_id", ""), command.get("channel_id", ""), command.get("text", "").strip()
        reason = self._policy.check(user, channel)
        if reason:
            await ack(text=reason)  # an ack with text is shown only to the user
            return
        if not text:
            await ack(text=f"Tell me what to do, e.g. `{self._command} describe this picture` after sharing one.")
            return
        if text.lower() == "cancel":
            await ack(text=await self._cancel_for(user, channel))
            return
        delivery = f"slack:command:{command.get('trigger_id', '')}"
        if await self._seen(delivery):
            await ack()
            return
        files = await _recent_files(client, channel, user)
        names = ", ".join(str(f.get("name", "file")) for f in files)
        intro = f"🧠 Working on: {render.to_mrkdwn(text)}\nasked by <@{user}>" + (
            f" · using {render.escape(names)}" if names else "")
        # the thread is the intro message, posted by the job once Slack has its ack (within 3 s)
        key = ConversationKey("slack", command.get("team_id", ""), channel, "")
        try:
            job = Job(key, text, user, files, intro=intro, response_url=command.get("response_url", ""))
            record = await self._jobs.accept(key, user=user, text=text, payload=job.payload, delivery_id=delivery)
        except JobRefused as exc:
            await ack(text=exc.user_message())
            return
        await ack()
        if record is not None:
            self._start(replace(job, record=record))

    async def _cancel_for(self, user: str, channel: str) -> str:
        """``/hgbot cancel``: the caller's newest job in flight in this channel (on any replica)."""
        job_id = await self._jobs.running_job_of(user, channel)
        if job_id is None:
            return "You have no request running in this channel."
        try:
            await self._jobs.request_cancel(job_id, user)
        except JobRefused as exc:
            return exc.user_message()
        return "Cancelling your request."

    async def on_mention(self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient,
                         context: AsyncBoltContext) -> None:
        """``@hgbot <request>`` in a channel: starts a thread, or continues the thread it was posted in.

        Mentioned in a thread hgbot has not answered yet, it also takes the files shared earlier in it.
        """
        if await self._seen(_delivery(event, body)):
            return
        earlier: list[Mapping[str, Any]] = []
        thread_ts = event.get("thread_ts")
        if thread_ts and not event.get("files") and (event["channel"], thread_ts) not in self._known:
            messages = await _replies(client, event["channel"], thread_ts)
            if not _bot_posted(messages, context.bot_user_id or ""):
                earlier = [f for m in messages if float(m.get("ts", 0)) < float(event.get("ts", 0))
                           and not m.get("bot_id") for f in m.get("files") or []]
        await self._answer(event, body, client, context.bot_user_id or "", earlier)

    async def on_message(self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient,
                         context: AsyncBoltContext) -> None:
        """DMs, and replies without a mention in threads hgbot already answered."""
        if event.get("subtype") not in _ANSWERED_SUBTYPES or event.get("bot_id"):
            return
        bot_user = context.bot_user_id or ""
        if not event.get("user") or event.get("user") == bot_user:
            return
        if event.get("channel_type") != "im":
            thread_ts = event.get("thread_ts")
            if not thread_ts or f"<@{bot_user}>" in event.get("text", ""):
                return  # top-level chatter is not for us; a mention arrives as app_mention too
            if await self._seen(_delivery(event, body)):
                return
            if not await self._answered_in(event, body, client, thread_ts, bot_user):
                return
        elif await self._seen(_delivery(event, body)):
            return
        await self._answer(event, body, client, bot_user)

    async def _answered_in(self, event: Mapping[str, Any], body: Mapping[str, Any], client: AsyncWebClient,
                           thread_ts: str, bot_user: str) -> bool:
        """Whether hgbot is in this thread: remembered, stored, or (last) seen among its replies.
        conversations.replies is the costly check (rate limited), so it comes last."""
        channel = str(event["channel"])
        if (channel, thread_ts) in self._known:
            return True
        team = str(body.get("team_id") or event.get("team", ""))
        if await self._service.find_conversation(ConversationKey("slack", team, channel, thread_ts)) is not None:
            return True
        return _bot_posted(await _replies(client, channel, thread_ts), bot_user)

    async def _seen(self, delivery: str) -> bool:
        """Whether this delivery was handled before: Slack redelivers events it thinks we missed.
        Only looked up here; it is claimed with the job it starts (or with the message that ends it)."""
        return await self._service.delivery_seen(delivery)

    async def _answer(self, event: Mapping[str, Any], body: Mapping[str, Any], client: AsyncWebClient,
                      bot_user: str, earlier_files: list[Mapping[str, Any]] | None = None) -> None:
        user, channel = str(event.get("user", "")), str(event.get("channel", ""))
        thread_ts = str(event.get("thread_ts") or event.get("ts", ""))
        delivery = _delivery(event, body)
        reason = self._policy.check(user, channel)
        if reason:
            if await self._claim(delivery):
                await _tell(client, channel, user, reason, thread_ts)
            return
        raw = str(event.get("text", ""))
        text = (raw.replace(f"<@{bot_user}>", "") if bot_user else raw).strip()  # other mentions stay
        files = list(event.get("files") or earlier_files or [])
        if not text and not files:
            if not await self._claim(delivery):
                return
            await client.chat_postMessage(channel=channel, thread_ts=thread_ts,
                                          text="Hi! Tell me what to do, and share files if it needs some.")
            return
        team = str(body.get("team_id") or event.get("team", ""))
        key = ConversationKey("slack", team, channel, thread_ts)
        if text.lower() in _STOP_WORDS and not files and await self._stop(key, user, client, delivery):
            return
        if text.lower() == "retry" and not files:
            last = await self._jobs.latest_job(key)
            if last is not None and last.state in _RETRYABLE and await self._claim(delivery):
                await self._retry(last, user, client)
                return
        await self._accept(Job(key, text, user, files, assistant=event.get("channel_type") == "im"), client, delivery)


    async def _stop(self, key: ConversationKey, user: str, client: AsyncWebClient, delivery: str) -> bool:
        """A ``stop`` reply: cancel the request running in this thread (requester or admin, as the
        Cancel button). False when none runs here: then the words are a request like any other."""
        job_id = await self._jobs.running_in(key)  # the job may run on another replica
        if job_id is None:
            return False
        if await self._claim(delivery):
            try:
                await self._jobs.request_cancel(job_id, user)
            except JobRefused as exc:
                await _tell(client, key.channel, user, exc.user_message(), key.thread or None)
        return True


def _delivery(event: Mapping[str, Any], body: Mapping[str, Any]) -> str:
    return f"slack:{body.get('event_id') or event.get('client_msg_id') or event.get('ts')}"


def _action(body: Mapping[str, Any]) -> tuple[str, str, int]:
    """(user, channel, job id) of a block action."""
    action = (body.get("actions") or [{}])[0]
    value = str(action.get("value", "0"))
    return (str((body.get("user") or {}).get("id", "")), str((body.get("channel") or {}).get("id", "")),
            int(value) if value.isdigit() else 0)


def _action_thread(body: Mapping[str, Any]) -> str | None:
    message = body.get("message") or {}
    return message.get("thread_ts") or message.get("ts")


async def _replies(client: AsyncWebClient, channel: str, thread_ts: str) -> list[dict[str, Any]]:
    """The thread's first 200 messages (parent first); empty when Slack refuses."""
    try:
        resp = await client.conversations_replies(channel=channel, ts=thread_ts, limit=200)
    except SlackApiError as exc:
        log.warning("conversations.replies in %s failed: %s", channel, api_error(exc))
        return []
    return list(resp.get("messages") or [])


def _bot_posted(messages: list[dict[str, Any]], bot_user: str) -> bool:
    """Whether hgbot posted in the thread: the thread is then a conversation with hgbot."""
    return any(m.get("user") == bot_user for m in messages)


async def _recent_files(client: AsyncWebClient, channel: str, user: str) -> list[Mapping[str, Any]]:
    try:
        resp = await client.conversations_history(channel=channel, limit=20)
    except SlackApiError as exc:
        log.info("no history for %s (%s): the command runs without files", channel, api_error(exc))
        return []
    return recent_shared_files(resp.get("messages") or [], user)


async def _tell(client: AsyncWebClient, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)
    except SlackApiError as exc:
        log.warning("ephemeral notice to %s failed: %s", user, api_error(exc))
