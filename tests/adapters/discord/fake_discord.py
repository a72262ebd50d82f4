"""A fake Discord on 127.0.0.1 for the real discord.py client: REST under ``/api/v10`` and a gateway.

REST: ``users/@me``, ``oauth2/applications/@me``, application command sync, channel messages (JSON
or multipart with files), message edits and fetches, threads from messages, typing, channels,
interaction callbacks, the original response and follow-ups, and a CDN for attachments.
Gateway (plain JSON text frames): HELLO → IDENTIFY → READY + GUILD_CREATE, heartbeats acked,
RESUME replays the events after the client's sequence (optionally some before it, as Discord may).
Everything the bot does is recorded in ``calls``; what it posts is in ``messages``.

Drive it with ``say`` (MESSAGE_CREATE from a user), ``slash`` (INTERACTION_CREATE), ``drop`` (close
the gateway so the client resumes) and ``rate_limit`` (answer the next matching request with 429).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

BOT_ID = 900000000000000001
USER_ID = 900000000000000002
OTHER_USER_ID = 900000000000000003
GUILD_ID = 900000000000000010
CHANNEL_ID = 900000000000000011
OTHER_CHANNEL_ID = 900000000000000012
DM_CHANNEL_ID = 900000000000000013
ROLE_ID = 900000000000000020
BOT_ROLE_ID = 900000000000000021
APP_ID = BOT_ID
COMMAND_ID = 900000000000000030
TOKEN = "OTAwMDAwMDAwMDAwMDAwMDAx.fake.token"  # base64("900000000000000001")


@dataclass
class Call:
    method: str
    path: str
    status: int
    json: Any = None
    files: list[tuple[str, str, bytes]] = field(default_factory=list)  # (field, filename, data)
    at: float = field(default_factory=time.monotonic)


@dataclass
class Connection:
    path: str
    identify: dict[str, Any] | None = None
    resume: dict[str, Any] | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # exactly "application/json": discord.py treats "application/json; charset=utf-8" as text
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={"Content-Type": "application/json", **(headers or {})})


def _user(uid: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(uid), "username": name, "global_name": name, "discriminator": "0", "avatar": None,
            "bot": bot, "flags": 0, "public_flags": 0}


class FakeDiscord:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.connections: list[Connection] = []
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.replayed: list[tuple[int, str, dict[str, Any]]] = []  # sent again on RESUME
        self.synced_commands: list[dict[str, Any]] = []
        self.interaction_callbacks: list[dict[str, Any]] = []
        self.premium_tier = 0
        self._ids = itertools.count(1_200_000_000_000_000_000)
        self._seq = 0
        self._session = ""
        self._ws: web.WebSocketResponse | None = None
        self._replay_before = 0
        self._limits: list[tuple[str, re.Pattern[str], float]] = []
        self._cdn: dict[str, tuple[bytes, str]] = {}
        self._interactions: dict[str, dict[str, Any]] = {}
        self._pending_events: list[tuple[str, dict[str, Any]]] = []  # dispatched before the REST answer
        self._runner: web.AppRunner | None = None
        self.base = ""
        self.bot = _user(BOT_ID, "hgbot", bot=True)
        self.user = _user(USER_ID, "alice")
        self.other_user = _user(OTHER_USER_ID, "bob")
        self.channels[CHANNEL_ID] = self._text_channel(CHANNEL_ID, "general")
        self.channels[OTHER_CHANNEL_ID] = self._text_channel(OTHER_CHANNEL_ID, "random")

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/resume", self._gateway)
        app.router.add_get("/cdn/{key}/{filename}", self._cdn_get)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://{self.base}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.base}/gateway"

    @property
    def resume_url(self) -> str:
        return f"ws://{self.base}/resume"

    # ---- driving the client ----------------------------------------------------------------------

    async def say(self, content: str, *, channel_id: int = CHANNEL_ID, author: dict[str, Any] | None = None,
                  mention: bool = False, files: list[tuple[str, bytes, str]] = (),  # type: ignore[assignment]
                  reply_to: int | None = None, roles: list[int] | None = None) -> dict[str, Any]:
        """A user message (MESSAGE_CREATE). ``mention`` prefixes ``<@bot>`` and lists the bot in mentions."""
        author = author or self.user
        if mention:
            content = f"<@{BOT_ID}> {content}"
        msg = self._message(channel_id, author, content, attachments=[self._attachment(*f) for f in files],
                            reply_to=reply_to)
        if mention:
            msg["mentions"] = [self.bot]
        if channel_id != DM_CHANNEL_ID:
            msg["member"] = self._member(author, roles)
        await self.dispatch("MESSAGE_CREATE", msg)
        return msg

    async def slash(self, request: str, *, file: tuple[str, bytes, str] | None = None,
                    channel_id: int = CHANNEL_ID) -> dict[str, Any]:
        """``/hgbot request:<text> [file:<attachment>]`` (INTERACTION_CREATE)."""
        iid = str(next(self._ids))
        token = f"itoken-{iid}"
        options: list[dict[str, Any]] = [{"name": "request", "type": 3, "value": request}]
        data: dict[str, Any] = {"id": str(COMMAND_ID), "name": "hgbot", "type": 1, "options": options}
        if file is not None:
            att = self._attachment(*file)
            options.append({"name": "file", "type": 11, "value": att["id"]})
            data["resolved"] = {"attachments": {att["id"]: att}}
        payload = {
            "id": iid, "application_id": str(APP_ID), "type": 2, "token": token, "version": 1,
            "guild_id": str(GUILD_ID), "channel_id": str(channel_id), "channel": self.channels[channel_id],
            "member": {**self._member(self.user), "permissions": "2248473465835073"},
            "data": data, "app_permissions": "2248473465835073", "locale": "en-US", "guild_locale": "en-US",
            "entitlements": [], "attachment_size_limit": 10 * 1024 * 1024,
            "authorizing_integration_owners": {"0": str(GUILD_ID)}, "context": 0,
        }
        self._interactions[token] = payload
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    def buttons(self, message_id: int) -> dict[str, str]:
        """The buttons a message shows now: label -> custom id."""
        rows = self.messages[message_id].get("components") or []
        return {c.get("label", ""): c.get("custom_id", "") for row in rows for c in row.get("components", [])}

    async def press(self, message_id: int, custom_id: str, *, user: dict[str, Any] | None = None) -> dict[str, Any]:
        """A person pressing a button of a bot message (a component INTERACTION_CREATE)."""
        msg = self.messages[message_id]
        iid = str(next(self._ids))
        token = f"itoken-{iid}"
        channel_id = int(msg["channel_id"])
        payload = {
            "id": iid, "application_id": str(APP_ID), "type": 3, "token": token, "version": 1,
            "guild_id": str(GUILD_ID), "channel_id": str(channel_id), "channel": self.channels[channel_id],
            "member": {**self._member(user or self.user), "permissions": "2248473465835073"},
            "message": msg, "data": {"custom_id": custom_id, "component_type": 2},
            "app_permissions": "2248473465835073", "locale": "en-US", "guild_locale": "en-US", "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "authorizing_integration_owners": {"0": str(GUILD_ID)}, "context": 0,
        }
        self._interactions[token] = payload
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Log an event with the next sequence number and send it if the client is connected."""
        self._seq += 1
        self.events.append((self._seq, event, data))
        await self._send_event(self._seq, event, data)

    async def drop(self, *, code: int = 4000, replay_before: int = 0) -> None:
        """Close the gateway; on RESUME also replay ``replay_before`` events the client already had."""
        self._replay_before = replay_before
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close(code=code, message=b"fake drop")

    def rate_limit(self, method: str, path_pattern: str, retry_after: float) -> None:
        """Answer the next ``method`` request whose path matches with 429 and ``retry_after`` seconds."""
        self._limits.append((method, re.compile(path_pattern), retry_after))

    async def wait_for(self, predicate: Callable[[], Any], within: float = 15.0) -> Any:
        """Poll ``predicate`` until it returns something truthy (returned), or fail after ``within`` s."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out after {within}s; calls: {[(c.method, c.path, c.status) for c in self.calls]}")

    # ---- what the bot did ------------------------------------------------------------------------

    def bot_messages(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        return [m for m in self.messages.values()
                if m["author"]["id"] == str(BOT_ID) and (channel_id is None or m["channel_id"] == str(channel_id))]

    def threads(self) -> list[dict[str, Any]]:
        return [c for c in self.channels.values() if c["type"] == 11]

    def requests(self, method: str, pattern: str) -> list[Call]:
        rx = re.compile(pattern)
        return [c for c in self.calls if c.method == method and rx.search(c.path)]

    async def user_thread(self, name: str, *, parent_id: int = CHANNEL_ID) -> int:
        """A thread a user opened (not hgbot's), announced by THREAD_CREATE; its id."""
        tid = next(self._ids)
        thread = self._thread(parent_id, tid, name, owner_id=USER_ID)
        self._pending_events.clear()
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return tid

    # ---- payload builders ------------------------------------------------------------------------

    def _text_channel(self, cid: int, name: str) -> dict[str, Any]:
        return {"id": str(cid), "type": 0, "guild_id": str(GUILD_ID), "name": name, "position": 0,
                "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None,
                "last_message_id": None, "rate_limit_per_user": 0, "flags": 0}

    def _member(self, user: dict[str, Any], roles: list[int] | None = None) -> dict[str, Any]:
        return {"user": user, "roles": [str(r) for r in (roles or [])], "joined_at": _now(), "deaf": False,
                "mute": False, "flags": 0, "nick": None, "avatar": None, "pending": False}

    def _attachment(self, filename: str, data: bytes, mime: str) -> dict[str, Any]:
        aid = str(next(self._ids))
        self._cdn[aid] = (data, mime)
        url = f"http://{self.base}/cdn/{aid}/{filename}"
        return {"id": aid, "filename": filename, "size": len(data), "url": url, "proxy_url": url,
                "content_type": mime}

    def _message(self, channel_id: int, author: dict[str, Any], content: str, *,
                 attachments: list[dict[str, Any]] | None = None, reply_to: int | None = None) -> dict[str, Any]:
        mid = next(self._ids)
        msg: dict[str, Any] = {
            "id": str(mid), "channel_id": str(channel_id), "author": author, "content": content,
            "timestamp": _now(), "edited_timestamp": None, "tts": False, "mention_everyone": False,
            "mentions": [], "mention_roles": [], "attachments": attachments or [], "embeds": [],
            "pinned": False, "type": 0, "flags": 0, "components": [],
        }
        if channel_id != DM_CHANNEL_ID:
            msg["guild_id"] = str(GUILD_ID)
        if reply_to is not None:
            ref = self.messages[reply_to]
            msg["type"] = 19
            msg["message_reference"] = {"message_id": str(reply_to), "channel_id": ref["channel_id"],
                                        "guild_id": str(GUILD_ID), "type": 0}
            msg["referenced_message"] = ref
        self.messages[mid] = msg
        return msg

    def _guild(self) -> dict[str, Any]:
        everyone = {"id": str(GUILD_ID), "name": "@everyone", "permissions": "2248473465835073", "position": 0,
                    "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}
        return {
            "id": str(GUILD_ID), "name": "Test Guild", "icon": None, "owner_id": str(USER_ID),
            "roles": [everyone,
                      {**everyone, "id": str(ROLE_ID), "name": "artists", "position": 1},
                      {**everyone, "id": str(BOT_ROLE_ID), "name": "hgbot", "position": 2, "managed": True,
                       "tags": {"bot_id": str(BOT_ID)}}],
            "emojis": [], "stickers": [], "features": [], "member_count": 3, "large": False, "unavailable": False,
            "premium_tier": self.premium_tier, "joined_at": _now(), "afk_timeout": 300,
            "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "mfa_level": 0, "nsfw_level": 0, "preferred_locale": "en-US", "system_channel_flags": 0,
            "channels": [c for c in self.channels.values() if c["type"] != 11],
            "threads": self.threads(), "members": [self._member(self.bot, [BOT_ROLE_ID])],
            "voice_states": [], "presences": [], "stage_instances": [], "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    # ---- gateway ---------------------------------------------------------------------------------

    async def _send_event(self, seq: int, event: str, data: dict[str, Any]) -> None:
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.send_str(json.dumps({"op": 0, "s": seq, "t": event, "d": data}))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = Connection(path=request.path)
        self.connections.append(conn)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}))
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                break
            payload = json.loads(msg.data)
            op, d = payload.get("op"), payload.get("d")
            if op == 1:
                await ws.send_str(json.dumps({"op": 11}))
            elif op == 2:
                conn.identify = d
                await self._identify(ws)
            elif op == 6:
                conn.resume = d
                await self._resume(ws, d)
        if self._ws is ws:
            self._ws = None
        return ws

    async def _identify(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws
        self._session = f"session-{next(self._ids)}"
        await self.dispatch("READY", {
            "v": 10, "user": {**self.bot, "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(GUILD_ID), "unavailable": True}], "session_id": self._session,
            "resume_gateway_url": self.resume_url, "private_channels": [], "relationships": [],
            "application": {"id": str(APP_ID), "flags": 0},
        })
        await self.dispatch("GUILD_CREATE", self._guild())

    async def _resume(self, ws: web.WebSocketResponse, d: dict[str, Any]) -> None:
        if d.get("session_id") != self._session:
            await ws.send_str(json.dumps({"op": 9, "d": False}))
            return
        self._ws = ws
        after = int(d.get("seq") or 0)
        replay = [e for e in self.events if e[0] > after]
        if self._replay_before:  # Discord may resend events the client already saw: the last user messages
            seen = [e for e in self.events if e[0] <= after and e[1] == "MESSAGE_CREATE"
                    and e[2]["author"]["id"] != str(BOT_ID)]
            replay = seen[-self._replay_before:] + replay
            self._replay_before = 0
        self.replayed.extend(replay)
        for seq, event, data in replay:
            await self._send_event(seq, event, data)
        self._seq += 1
        await ws.send_str(json.dumps({"op": 0, "s": self._seq, "t": "RESUMED", "d": {}}))

    # ---- REST ------------------------------------------------------------------------------------

    async def _cdn_get(self, request: web.Request) -> web.Response:
        data, mime = self._cdn[request.match_info["key"]]
        self.calls.append(Call("GET", request.path, 200))
        return web.Response(body=data, content_type=mime)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body: Any = None
        files: list[tuple[str, str, bytes]] = []
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                assert isinstance(part, BodyPartReader)
                if part.name == "payload_json":
                    body = json.loads(await part.text())
                else:
                    files.append((part.name or "", part.filename or "", bytes(await part.read())))
        elif request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        for i, (method, rx, retry_after) in enumerate(self._limits):
            if method == request.method and rx.search(path):
                del self._limits[i]
                self.calls.append(Call(request.method, path, 429, body, files))
                return _json(
                    {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
                    status=429,
                    headers={"Via": "1.1 google", "Retry-After": str(retry_after), "X-RateLimit-Limit": "5",
                             "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": str(retry_after),
                             "X-RateLimit-Bucket": "fake-bucket", "X-RateLimit-Scope": "user"})
        if path == "/users/@me" and request.headers.get("Authorization") != f"Bot {TOKEN}":  # the login
            self.calls.append(Call(request.method, path, 401, body, files))
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        status, result = self._route(request.method, path, body, files, dict(request.query))
        self.calls.append(Call(request.method, path, status, body, files))
        for event in self._pending_events:
            await self.dispatch(*event)
        self._pending_events.clear()
        if result is None:
            return web.Response(status=status)
        return _json(result, status=status)

    def _route(self, method: str, path: str, body: Any, files: list[tuple[str, str, bytes]],
               query: dict[str, str]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        match method, parts:
            case "GET", ["users", "@me"]:
                return 200, {**self.bot, "verified": True, "mfa_enabled": False}
            case "GET", ["oauth2", "applications", "@me"]:
                return 200, {"id": str(APP_ID), "name": "hgbot", "description": "", "icon": None,
                             "bot_public": True, "bot_require_code_grant": False, "verify_key": "00",
                             "owner": self.user, "flags": 0, "team": None}
            case "PUT", ["applications", _, "commands"]:
                self.synced_commands = [{**c, "id": str(COMMAND_ID), "application_id": str(APP_ID), "version": "1"}
                                        for c in body]
                return 200, self.synced_commands
            case "POST", ["channels", cid, "typing"]:
                return 204, None
            case "GET", ["channels", cid]:
                channel = self.channels.get(int(cid))
                return (200, channel) if channel else (404, {"message": "Unknown Channel", "code": 10003})
            case "POST", ["channels", cid, "messages"]:
                return 200, self._post(int(cid), body or {}, files)
            case "GET", ["channels", cid, "messages"]:
                before = int(query.get("before", 2**63))
                found = sorted((m for m in self.messages.values()
                                if m["channel_id"] == cid and int(m["id"]) < before), key=lambda m: -int(m["id"]))
                return 200, found[: int(query.get("limit", 50))]
            case "GET", ["channels", cid, "messages", mid]:
                msg = self.messages.get(int(mid))
                return (200, msg) if msg else (404, {"message": "Unknown Message", "code": 10008})
            case "PATCH", ["channels", cid, "messages", mid]:
                msg = self.messages[int(mid)]
                msg.update(content=body.get("content", msg["content"]), edited_timestamp=_now())
                if "components" in body:
                    msg["components"] = body["components"] or []
                return 200, msg
            case "POST", ["channels", cid, "messages", mid, "threads"]:
                return 201, self._thread(int(cid), int(mid), body["name"])
            case "POST", ["interactions", _, token, "callback"]:
                self.interaction_callbacks.append(body)
                interaction = self._interactions[token]
                return 200, {"interaction": {"id": interaction["id"], "type": interaction["type"],
                                             "response_message_loading": body["type"] == 5,
                                             "response_message_ephemeral": False}}
            case "PATCH", ["webhooks", _, token, "messages", "@original"]:
                return 200, self._original(token, body or {})
            case "POST", ["webhooks", _, token]:
                interaction = self._interactions[token]
                return 200, self._post(int(interaction["channel_id"]), body or {}, files)
        return 404, {"message": f"fake Discord has no {method} {path}", "code": 0}

    def _post(self, cid: int, body: dict[str, Any], files: list[tuple[str, str, bytes]]) -> dict[str, Any]:
        attachments = [self._attachment(name, data, "application/octet-stream") for _, name, data in files]
        ref = body.get("message_reference")
        msg = self._message(cid, self.bot, body.get("content") or "", attachments=attachments,
                            reply_to=int(ref["message_id"]) if ref else None)
        msg["allowed_mentions"] = body.get("allowed_mentions")  # recorded for assertions
        msg["components"] = body.get("components") or []
        self._pending_events.append(("MESSAGE_CREATE", msg))  # Discord echoes the bot's own messages
        return msg

    def _original(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        interaction = self._interactions[token]
        mid = interaction.get("_original")
        if mid is None:
            msg = self._message(int(interaction["channel_id"]), self.bot, body.get("content") or "")
            msg["type"] = 20
            interaction["_original"] = mid = int(msg["id"])
        msg = self.messages[mid]
        msg.update(content=body.get("content", msg["content"]), allowed_mentions=body.get("allowed_mentions"))
        return msg

    def _thread(self, cid: int, mid: int, name: str, owner_id: int = BOT_ID) -> dict[str, Any]:
        thread = {
            "id": str(mid), "type": 11, "guild_id": str(GUILD_ID), "parent_id": str(cid), "owner_id": str(owner_id),
            "name": name, "last_message_id": None, "message_count": 0, "member_count": 1,
            "rate_limit_per_user": 0, "flags": 0, "total_message_sent": 0,
            "thread_metadata": {"archived": False, "auto_archive_duration": 1440, "archive_timestamp": _now(),
                                "locked": False},
        }
        self.channels[mid] = thread
        self._pending_events.append(("THREAD_CREATE", {**thread, "newly_created": True}))
        return thread
