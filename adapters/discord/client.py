"""hgbot's discord.py client: which messages are for hgbot, where their conversation lives, the slash command.

Addressing rules (``_where``):

- a DM (when the ``[discord]`` section's ``dms``): the DM channel is the conversation;
- in a guild channel, a message that mentions hgbot opens a thread on that message and works there;
  a reply to one of hgbot's channel messages continues in the thread on that message;
- in a thread, a message is for hgbot when it mentions hgbot, replies to hgbot, or the thread is one
  hgbot answers in (hgbot owns it, has answered there since start-up, or is a member of it).

The conversation key is ``ConversationKey("discord", guild_id or "dm", parent_channel_id, thread_id)``.
Every message is claimed once by id (``service.claim_delivery("discord:<id>")``, or with its job)
before any work: after a gateway resume Discord may deliver the same MESSAGE_CREATE again. The
client talks to hgbot only through the chat service (``orchestrator.service``), which also runs one
turn at a time per conversation.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterable
from typing import Any, cast

import discord
from discord import app_commands

from adapters.common import AccessPolicy
from adapters.kit.host import Host, needs_jobs, service_of
from orchestrator.errors import ConfigError, JobRefused
from orchestrator.jobtypes import JobRecord, JobState
from orchestrator.types import ConversationKey

from . import files, render
from .config import DiscordConfig
from .endpoints import Endpoints
from .turn import CANCEL_PREFIX, NO_PINGS, RETRY_PREFIX, Turn, notify_interrupted, run_job, run_turn

log = logging.getLogger(__name__)

PLATFORM = "discord"
_RETRYABLE = (JobState.INTERRUPTED, JobState.CANCELLED, JobState.FAILED)


def intents() -> discord.Intents:
    """Default intents plus ``message_content`` (privileged: enable it in the developer portal)."""
    value = discord.Intents.default()
    value.message_content = True
    return value


class HgbotClient(discord.Client):
    """A ``discord.Client`` that answers hgbot requests. Build it with ``build_discord_client``."""

    def __init__(self, app: Host, *, progress_interval: float = 1.0, **options: Any) -> None:
        super().__init__(intents=intents(), allowed_mentions=NO_PINGS, **options)
        self.app = app
        self.service = service_of(app)
        self.config = app.settings.section(DiscordConfig)
        self.progress_interval = progress_interval
        self.endpoints = Endpoints(self.config.api_base, self.config.gateway_url)
        self.endpoints.install(self)
        self.policy = AccessPolicy.from_settings(app.settings)
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(self._slash_command())
        self._threads: set[int] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, token: str, *, reconnect: bool = True) -> None:
        # interaction calls are made by tasks started below; they inherit the scoped webhook adapter
        with self.endpoints.scoped_webhooks():
            await super().start(token, reconnect=reconnect)

    async def setup_hook(self) -> None:
        try:
            await self.recover()  # REST works before the gateway connects: interrupted threads are told first
        except Exception:
            log.exception("recovering the jobs of a previous process failed")
        jobs = self.service.jobs
        if jobs is not None:  # a replica that stops later (another host: stale heartbeat) is taken over too
            self._sweeper = asyncio.create_task(jobs.sweep_forever([PLATFORM], self.take))
        try:
            commands = await self.tree.sync()
            log.info("synced %d application command(s)", len(commands))
        except discord.HTTPException as exc:  # messages still work without the slash command
            log.warning("could not sync the /hgbot command: %s", exc)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        await super().close()

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s (%d guilds)", self.user, len(self.guilds))

    # ---- messages -------------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user is None:
            return
        try:
            await self._on_message(message)
        except Exception:
            log.exception("failed to handle message %s", message.id)
            await _quietly(message.channel.send(render.failure("Sorry, something went wrong on my side."),
                                                allowed_mentions=NO_PINGS))

    async def _on_message(self, message: discord.Message) -> None:
        await self._resolve_channel(message)
        referenced = await self._referenced(message)
        if not await self._is_for_me(message, referenced):
            return
        delivery = f"{PLATFORM}:{message.id}"
        if await self._seen(delivery):
            log.info("message %s delivered again; already handled", message.id)
            return
        denied = self._denied(message.author, message.channel)
        if denied:
            if self.service.jobs is None or await self.service.claim_delivery(delivery):
                await message.reply(denied, mention_author=False, allowed_mentions=NO_PINGS)
            return
        first_contact = isinstance(message.channel, discord.Thread) and not await self._answers_in(message.channel)
        destination, key = await self._where(message, referenced)
        sources = [*message.attachments]
        if referenced is not None and referenced.author != self.user:  # "@hgbot what's in this?" as a reply
            sources += referenced.attachments
        if not sources and first_contact:  # called into a thread: the file is usually a message or two above
            sources = await self._earlier_files(message)
        downloads = await files.download(sources, self.app.settings.max_file_bytes)
        assert self.user is not None
        turn = Turn(key=key, destination=destination, text=render.strip_bot_mention(message.content, self.user.id),
                    user=str(message.author.id), downloads=downloads,
                    upload_limit=files.upload_limit(message.guild), reply_to=message)
        await self._take(turn, delivery, {"message": message.id, "source": message.channel.id})

    async def _seen(self, delivery: str) -> bool:
        """Whether this delivery was handled before (a resumed gateway may send it again). With jobs it
        is only looked up here and claimed with the job, in one transaction."""
        if self.service.jobs is None:
            return not await self.service.claim_delivery(delivery)
        return await self.service.delivery_seen(delivery)

    async def _take(self, turn: Turn, delivery: str | None, payload: dict[str, Any]) -> None:
        """Record the turn as a job (claiming ``delivery`` with it), then run it in its conversation's turn."""
        jobs = self.service.jobs
        if jobs is None:  # a service without durable jobs
            await run_turn(self.service, turn, progress_interval=self.progress_interval)
            return
        if turn.text.strip().lower() == "retry" and not turn.downloads.attachments:
            last = await jobs.latest_job(turn.key)
            if last is not None and last.state in _RETRYABLE:
                await self._retry(last, turn.destination, turn.user)
                return
        try:
            record = await jobs.accept(turn.key, user=turn.user, text=turn.text,
                                       payload={**payload, "upload_limit": turn.upload_limit}, delivery_id=delivery)
        except JobRefused as exc:
            await _quietly(turn.destination.send(render.failure(exc.user_message()), allowed_mentions=NO_PINGS))
            return
        if record is None:
            return
        await run_job(self.service, turn, record, progress_interval=self.progress_interval)

    async def _retry(self, record: JobRecord, destination: discord.abc.Messageable, user: str) -> None:
        """The same request again in its thread, once per interrupted job (the retry is claimed with it)."""
        turn = await self._turn_of(record, destination)
        new = await needs_jobs(self.service).accept(record.key, user=user, text=record.text, payload=record.payload,
                                delivery_id=f"{PLATFORM}:retry:{record.id}")
        if new is not None:
            await run_job(self.service, turn, new, progress_interval=self.progress_interval)

    async def _turn_of(self, record: JobRecord, destination: discord.abc.Messageable | None = None) -> Turn:
        """A stored job as a turn: its thread, and the files of its message fetched again."""
        where = destination or self.get_partial_messageable(int(record.key.thread or record.key.channel))
        sources: list[discord.Attachment] = []
        mid, source = record.payload.get("message"), record.payload.get("source")
        if mid and source:
            try:
                original = await self.get_partial_messageable(int(source)).fetch_message(int(mid))
                sources = list(original.attachments)
            except discord.HTTPException as exc:
                log.info("files of job %s not fetched: %s", record.id, exc)
        downloads = await files.download(sources, self.app.settings.max_file_bytes)
        return Turn(key=record.key, destination=where, text=record.text, user=record.user, downloads=downloads,
                    upload_limit=int(record.payload.get("upload_limit") or files.DEFAULT_UPLOAD_LIMIT))

    async def recover(self) -> None:
        """At start-up: tell the threads of jobs that died with a previous process (Retry button), and
        run the jobs it left queued."""
        jobs = self.service.jobs
        if jobs is None:
            return
        await self.take(*await jobs.recover([PLATFORM]))

    async def take(self, interrupted: list[JobRecord], queued: list[JobRecord]) -> None:
        """Jobs of a stopped process (start-up or a sweep while serving): tell, then run."""
        jobs = needs_jobs(self.service)
        for record in interrupted:
            try:
                await notify_interrupted(self.get_partial_messageable(int(record.key.thread or record.key.channel)),
                                         record)
            except discord.HTTPException as exc:
                log.warning("cannot tell %s that job %s was interrupted: %s", record.key, record.id, exc)
                continue
            await jobs.notified(record.id)
        for record in queued:
            self._spawn(self._run_recovered(record))

    async def _run_recovered(self, record: JobRecord) -> None:
        turn = await self._turn_of(record)
        await run_job(self.service, turn, record, progress_interval=self.progress_interval)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """The Cancel and Retry buttons (component interactions); slash commands go to the command tree."""
        if interaction.type is not discord.InteractionType.component:
            return
        data = cast("dict[str, Any]", interaction.data or {})  # a component's payload carries custom_id
        custom_id = str(data.get("custom_id", ""))
        jobs = self.service.jobs
        if jobs is None or not custom_id.startswith((CANCEL_PREFIX, RETRY_PREFIX)):
            return
        user = str(interaction.user.id)
        job_id = int(custom_id.rsplit(":", 1)[1]) if custom_id.rsplit(":", 1)[1].isdigit() else 0
        if custom_id.startswith(CANCEL_PREFIX):
            try:
                await jobs.request_cancel(job_id, user)  # the interaction may reach another replica
            except JobRefused as exc:
                await _quietly(interaction.response.send_message(exc.user_message(), ephemeral=True))
                return
            await _quietly(interaction.response.defer())
            return
        denied = self._denied(interaction.user, interaction.channel)
        if denied:
            await _quietly(interaction.response.send_message(denied, ephemeral=True))
            return
        await _quietly(interaction.response.defer())
        record = await jobs.get_job(job_id)
        channel = interaction.channel
        if record is not None and isinstance(channel, discord.abc.Messageable):
            self._spawn(self._retry(record, channel, user))

    async def _is_for_me(self, message: discord.Message, referenced: discord.Message | None) -> bool:
        channel = message.channel
        if isinstance(channel, discord.DMChannel):
            return self.config.dms
        if message.guild is None:
            return False
        if self._mentions_me(message):
            return True
        if isinstance(channel, discord.Thread) and await self._answers_in(channel):
            return True
        return referenced is not None and referenced.author == self.user

    def _mentions_me(self, message: discord.Message) -> bool:
        me = self.user
        if me is None:
            return False
        if any(user.id == me.id for user in message.mentions):
            return True
        # mentioning the bot's own integration role is how many people "mention the bot"
        return any(role.tags is not None and role.tags.bot_id == me.id for role in message.role_mentions)

    async def _answers_in(self, thread: discord.Thread) -> bool:
        """hgbot owns the thread, answered in it (since start-up, or before: the store knows), or is a member."""
        me = self.user
        if thread.id in self._threads or (me is not None and thread.owner_id == me.id) or thread.me is not None:
            return True
        key = ConversationKey(PLATFORM, str(thread.guild.id), str(thread.parent_id), str(thread.id))
        if await self.service.find_conversation(key) is not None:
            self._threads.add(thread.id)
            return True
        return False

    async def _referenced(self, message: discord.Message) -> discord.Message | None:
        ref = message.reference
        if ref is None or ref.message_id is None:
            return None
        if isinstance(ref.resolved, discord.Message):
            return ref.resolved
        if ref.cached_message is not None:
            return ref.cached_message
        if ref.resolved is not None:  # DeletedReferencedMessage
            return None
        try:
            return await message.channel.fetch_message(ref.message_id)
        except discord.HTTPException:
            return None

    async def _resolve_channel(self, message: discord.Message) -> None:
        """A thread missing from the cache arrives as a PartialMessageable; fetch it to know what it is."""
        if message.guild is None or not isinstance(message.channel, discord.PartialMessageable):
            return
        try:
            channel = await self.fetch_channel(message.channel.id)
        except discord.HTTPException as exc:
            log.info("cannot resolve channel %s: %s", message.channel.id, exc)
            return
        if isinstance(channel, discord.Thread | discord.TextChannel):
            message.channel = channel

    async def _earlier_files(self, message: discord.Message) -> list[discord.Attachment]:
        """The files of the latest earlier message (not a bot's) in this channel that has any."""
        try:
            async for earlier in message.channel.history(limit=20, before=message):
                if not earlier.author.bot and earlier.attachments:
                    return list(earlier.attachments)
        except discord.HTTPException as exc:  # no Read Message History here: go on without
            log.info("cannot read history of %s: %s", message.channel.id, exc)
        return []

    async def _where(self, message: discord.Message,
                     referenced: discord.Message | None) -> tuple[discord.abc.Messageable, ConversationKey]:
        """The channel to answer in and the conversation key, opening a thread when needed."""
        channel = message.channel
        if isinstance(channel, discord.DMChannel):
            return channel, ConversationKey(PLATFORM, "dm", str(channel.id))
        guild = message.guild
        assert guild is not None
        if isinstance(channel, discord.Thread):
            self._threads.add(channel.id)
            return channel, ConversationKey(PLATFORM, str(guild.id), str(channel.parent_id), str(channel.id))
        if referenced is not None and referenced.author == self.user and not self._mentions_me(message):
            # a reply to hgbot's own channel message continues in the thread on that message
            thread = guild.get_thread(referenced.id) or await self._open_thread(referenced, message.content)
        else:
            thread = await self._open_thread(message, render.strip_bot_mention(message.content, self.user.id
                                                                               if self.user else 0))
        if thread is None:  # no thread possible here (permissions, channel type): answer in the channel
            return channel, ConversationKey(PLATFORM, str(guild.id), str(channel.id))
        return thread, ConversationKey(PLATFORM, str(guild.id), str(channel.id), str(thread.id))

    async def _open_thread(self, message: discord.Message, title: str) -> discord.Thread | None:
        try:
            thread = await message.create_thread(name=render.thread_name(title), auto_archive_duration=1440)
        except (discord.HTTPException, ValueError) as exc:
            log.warning("cannot open a thread on %s: %s", message.id, exc)
            return None
        self._threads.add(thread.id)
        return thread

    def _denied(self, user: discord.abc.User, channel: Any) -> str | None:
        """Channel lists name channels (a thread counts as its parent); DMs are the channel ``"dm"``."""
        if getattr(channel, "guild", None) is None:
            where = "dm"
        else:
            where = str(getattr(channel, "parent_id", None) or channel.id)
        roles = _role_names(getattr(user, "roles", ()))
        return self.policy.check(str(user.id), where, roles)

    # ---- slash command --------------------------------------------------------------------------

    def _slash_command(self) -> app_commands.Command[Any, Any, Any]:
        @app_commands.command(name="hgbot", description="Ask hgbot: it plans Hugging Face tasks and answers in a thread.")
        @app_commands.describe(request="What you want done", file="An image, audio, video or document to work on")
        async def hgbot(interaction: discord.Interaction, request: str, file: discord.Attachment | None = None) -> None:
            await self._on_slash(interaction, request, file)

        return hgbot

    async def _on_slash(self, interaction: discord.Interaction, text: str, file: discord.Attachment | None) -> None:
        # defer first: Discord fails the interaction after 3 s without an answer
        try:
            await interaction.response.defer(thinking=True)
        except discord.HTTPException as exc:  # acknowledged already (a replayed event) or expired
            log.info("interaction %s not deferred: %s", interaction.id, exc)
            return
        delivery = f"{PLATFORM}:interaction:{interaction.id}"
        if text.strip().lower() == "cancel":
            await interaction.edit_original_response(content=await self._cancel_for(interaction))
            return
        if await self._seen(delivery):
            return
        channel = interaction.channel
        if interaction.guild is None and not self.config.dms:
            await interaction.edit_original_response(content="hgbot does not answer in DMs here.")
            return
        denied = self._denied(interaction.user, channel)
        if denied:
            await interaction.edit_original_response(content=denied)
            return
        header = render.slash_header(interaction.user.mention, text, file.filename if file else None)
        original = await interaction.edit_original_response(content=header, allowed_mentions=NO_PINGS)
        place = await self._slash_place(interaction, original, text)
        if place is None:
            await interaction.edit_original_response(content=render.failure("I cannot post in this channel."))
            return
        destination, key = place
        downloads = await files.download([file] if file else [], self.app.settings.max_file_bytes)
        turn = Turn(key=key, destination=destination, text=text, user=str(interaction.user.id),
                    downloads=downloads, upload_limit=interaction.filesize_limit)
        await self._take(turn, delivery, {})

    async def _cancel_for(self, interaction: discord.Interaction) -> str:
        """``/hgbot cancel``: the caller's newest job in flight in this channel (a thread counts as its
        parent), on any replica."""
        jobs = self.service.jobs
        channel = interaction.channel
        where = str(getattr(channel, "parent_id", None) or getattr(channel, "id", ""))
        job_id = await jobs.running_job_of(str(interaction.user.id), where) if jobs is not None else None
        if job_id is None:
            return "You have no request running in this channel."
        try:
            await jobs.request_cancel(job_id, str(interaction.user.id))  # type: ignore[union-attr]
        except JobRefused as exc:
            return exc.user_message()
        return "Cancelling your request."

    async def _slash_place(
        self, interaction: discord.Interaction, original: discord.Message, text: str,
    ) -> tuple[discord.abc.Messageable, ConversationKey] | None:
        channel = interaction.channel
        guild = interaction.guild
        if guild is None:
            if channel is None or not isinstance(channel, discord.abc.Messageable):
                return None
            return channel, ConversationKey(PLATFORM, "dm", str(channel.id))
        if isinstance(channel, discord.Thread):
            self._threads.add(channel.id)
            return channel, ConversationKey(PLATFORM, str(guild.id), str(channel.parent_id), str(channel.id))
        if channel is None:
            return None
        thread = await self._open_thread(original, text)
        if thread is None:
            if not isinstance(channel, discord.abc.Messageable):
                return None
            return channel, ConversationKey(PLATFORM, str(guild.id), str(channel.id))
        return thread, ConversationKey(PLATFORM, str(guild.id), str(channel.id), str(thread.id))


def _role_names(roles: Iterable[discord.Role]) -> list[str]:
    """Roles as both ids and names, so allow/deny lists may use either."""
    out: list[str] = []
    for role in roles:
        if not role.is_default():
            out += [str(role.id), role.name]
    return out


async def _quietly(coro: Any) -> None:
    try:
        await coro
    except discord.HTTPException as exc:
        log.warning("could not report a failure: %s", exc)


def application_id_from_token(token: str) -> str:
    """A bot token starts with the base64 of the bot's user id, which is its application id (no network).

    Raises ``ConfigError`` for a token that does not have that shape.
    """
    head = token.strip().split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        decoded = ""
    if not decoded.isdigit():
        raise ConfigError("DISCORD_TOKEN does not look like a bot token.",
                          hint="Copy it from Bot > Reset Token in the developer portal.")
    return decoded


def build_discord_client(app: Host, **options: Any) -> HgbotClient:
    """A client for ``app`` (not connected). ``options`` go to ``discord.Client`` (and ``progress_interval``)."""
    return HgbotClient(app, **options)


async def serve_discord(app: Host) -> None:
    """Connect with the ``[discord]`` token and answer until cancelled (reconnects resume)."""
    token = app.settings.section(DiscordConfig).token
    if not token:
        raise ConfigError("DISCORD_TOKEN is not set.",
                          hint="Create a bot at https://discord.com/developers/applications and export its token.")
    client = build_discord_client(app)
    try:
        await client.start(token)
    except discord.LoginFailure as exc:
        raise ConfigError("Discord rejected DISCORD_TOKEN.", hint="Reset the token under Bot in the developer portal.") from exc
    except discord.PrivilegedIntentsRequired as exc:
        raise ConfigError(
            "Discord refused the message content intent.",
            hint="Enable 'Message Content Intent' under Bot > Privileged Gateway Intents in the developer portal.",
        ) from exc
    finally:
        await client.close()
