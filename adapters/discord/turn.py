"""One turn: a request in a Discord conversation, run through the orchestrator, answered in place.

The turn owns everything the user sees while hgbot works: the typing indicator, the progress
message, the answer split below 2,000 characters, and the generated files with their labels (or a
line saying why a file could not be uploaded). It never raises: every failure ends in a message.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import discord

from adapters.kit.host import needs_jobs
from adapters.kit.turn import Failure, guarded
from orchestrator.errors import HgbotError
from orchestrator.jobs import INTERRUPTED_TEXT, JobContext, queue_text
from orchestrator.jobtypes import JobRecord, JobState
from orchestrator.service import ChatService
from orchestrator.types import ConversationKey, Reply, Request

from . import files, render
from .progress import ProgressMessage

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()


@dataclass(frozen=True)
class Turn:
    """Where and what: the conversation, the channel to answer in, and the request."""

    key: ConversationKey
    destination: discord.abc.Messageable
    text: str
    user: str
    downloads: files.Downloads
    upload_limit: int
    reply_to: discord.Message | None = None  # quoted by the first answer chunk when in the same channel


async def run_turn(service: ChatService, turn: Turn, *, progress_interval: float = 1.0) -> Reply | None:
    """Run the request and post everything; the reply, or None when it was a duplicate."""

    async def send_progress(text: str) -> discord.Message:
        return await turn.destination.send(text, allowed_mentions=NO_PINGS)

    progress = ProgressMessage(send_progress, interval=progress_interval)
    request = Request(
        conversation=turn.key, text=turn.text, attachments=tuple(turn.downloads.attachments), user=turn.user,
    )
    async with _typing(turn.destination):
        try:
            reply = _reply(await guarded(lambda: service.handle(request, progress.on_event), where=turn.key))
        finally:
            await progress.close()
    if reply.duplicate:
        return None
    await deliver(service, turn, reply)
    return reply


def _reply(outcome: Reply | Failure) -> Reply:
    """A failed turn as the reply the user sees (``handle`` should not raise; the boundary is the backstop)."""
    if not isinstance(outcome, Failure):
        return outcome
    if outcome.bug:
        return Reply(text="Sorry, something went wrong on my side while answering this.", error="internal")
    return Reply(text=outcome.text, error=outcome.detail)


CANCEL_PREFIX, RETRY_PREFIX = "hgbot:cancel:", "hgbot:retry:"


def buttons(label: str, prefix: str, job_id: int) -> discord.ui.View:
    """One button whose custom id carries the job id; presses arrive as component interactions."""
    view = discord.ui.View(timeout=None)
    style = discord.ButtonStyle.danger if prefix == CANCEL_PREFIX else discord.ButtonStyle.primary
    view.add_item(discord.ui.Button(label=label, style=style, custom_id=f"{prefix}{job_id}"))
    return view


async def run_job(service: ChatService, turn: Turn, record: JobRecord, *, progress_interval: float = 1.0) -> JobState:
    """``run_turn`` as a durable job: the fair queue (a place-in-line message while waiting), a Cancel
    button on the progress message, and the end recorded in the store. The typing indicator starts
    first: it is the sign the request was taken."""
    jobs = needs_jobs(service)
    shown: list[discord.Message] = []

    async def send_progress(text: str) -> discord.Message:
        msg = await turn.destination.send(text, allowed_mentions=NO_PINGS, view=buttons("Cancel", CANCEL_PREFIX, record.id))
        shown.append(msg)
        return msg

    progress = ProgressMessage(send_progress, interval=progress_interval)

    async def on_move(position: int, eta: float | None) -> None:
        text = queue_text(position, eta)
        if position <= 0:
            return
        try:
            if not shown:
                await send_progress(text)
            else:
                await shown[0].edit(content=text, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            log.info("place in line not shown: %s", exc)

    async def drop_buttons() -> None:
        for msg in shown:
            with contextlib.suppress(discord.HTTPException):
                await msg.edit(view=None)

    async def work(ctx: JobContext) -> None:
        if shown:  # the place-in-line message becomes the progress message: the line moved, say so
            progress.adopt(shown[0])
            with contextlib.suppress(discord.HTTPException):
                await shown[0].edit(content="🧠 Thinking…", allowed_mentions=NO_PINGS)
        request = Request(conversation=turn.key, text=turn.text, attachments=tuple(turn.downloads.attachments),
                          user=turn.user)
        try:
            reply = _reply(await guarded(lambda: service.handle(request, ctx.progress(progress.on_event)),
                                         where=turn.key))
        finally:
            await progress.close()
        ctx.deliver()
        await drop_buttons()
        if shown and progress.edits == 0:  # no plan was drawn over it (a chat answer): don't leave it thinking
            with contextlib.suppress(discord.HTTPException):
                await shown[0].edit(content="✅ Done.", allowed_mentions=NO_PINGS)
        if not reply.duplicate:
            await deliver(service, turn, reply)

    async def on_cancel(text: str) -> None:
        await progress.close()
        await drop_buttons()
        await _send(turn.destination, text)

    async with _typing(turn.destination):
        return await jobs.run(record, work, on_move=on_move, on_cancel=on_cancel)


async def notify_interrupted(destination: discord.abc.Messageable, record: JobRecord) -> None:
    """The thread's notice that its job died with the process, with a Retry button (raises HTTPException)."""
    await destination.send(INTERRUPTED_TEXT, allowed_mentions=NO_PINGS, view=buttons("Retry", RETRY_PREFIX, record.id))


async def deliver(service: ChatService, turn: Turn, reply: Reply) -> None:
    """Answer text first (split), then one message per generated file, labelled with task and model."""
    dest = turn.destination
    reference = turn.reply_to if turn.reply_to is not None and turn.reply_to.channel.id == _id(dest) else None
    for i, chunk in enumerate(render.answer_chunks(reply, turn.downloads.notes)):
        await _send(dest, chunk, reference=reference if i == 0 else None)
    fits, too_large = files.partition(reply.artifacts, turn.upload_limit)
    for artifact in fits:
        name = artifact.filename or artifact.path.name
        try:
            # bytes through the blob store: this replica may not hold the file on its disk
            data = await service.artifact_bytes(artifact)
            await dest.send(render.file_label(artifact), file=discord.File(io.BytesIO(data), filename=name),
                            allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            if exc.status != 413:  # 413: the limit was lower than we knew; report it like the others
                log.warning("upload of %s failed: %s", name, exc)
                await _send(dest, render.failure(f"Could not upload {name}: {exc.text or exc.status}."))
                continue
            too_large.append(artifact)
        except (OSError, HgbotError) as exc:
            log.warning("artifact %s unreadable: %s", artifact.id, exc)
            await _send(dest, render.failure(f"{name} was generated but could not be read back."))
    for artifact in too_large:
        await _send(dest, render.too_large(artifact, turn.upload_limit))


async def _send(dest: discord.abc.Messageable, text: str, *, reference: discord.Message | None = None) -> None:
    try:
        if reference is not None:
            await dest.send(text, reference=reference, mention_author=False, allowed_mentions=NO_PINGS)
        else:
            await dest.send(text, allowed_mentions=NO_PINGS)
    except discord.HTTPException as exc:
        log.warning("send to %s failed: %s", _id(dest), exc)


def _id(dest: discord.abc.Messageable) -> int | None:
    return getattr(dest, "id", None)


@contextlib.asynccontextmanager
async def _typing(dest: discord.abc.Messageable) -> AsyncIterator[None]:
    """Show 'hgbot is typing…' for the whole turn; a refused indicator must not stop the work."""
    indicator = dest.typing()
    try:
        await indicator.__aenter__()
    except discord.HTTPException as exc:
        log.info("typing indicator refused: %s", exc)
        yield
        return
    try:
        yield
    finally:
        await indicator.__aexit__(None, None, None)
