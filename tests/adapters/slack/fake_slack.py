"""A fake Slack on 127.0.0.1: the Web API methods hgbot uses, file hosting, and a Socket Mode socket.

Real HTTP and a real WebSocket, so the real ``slack_sdk`` client and ``slack_bolt`` app run
unchanged against it. Every API call is recorded in ``calls``; messages live per channel so
``conversations.replies``/``history`` answer from what was posted, and ``chat.update`` edits them.

Knobs: ``rate_limit(method, retry_after, times)`` answers 429s; ``add_file(..., login_page=True)``
serves Slack's HTML sign-in page instead of the bytes (what a token without ``files:read`` gets).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to Slack</body></html>"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None
    at: float


@dataclass
class FakeSlack:
    token: str = "xoxb-test-token"
    app_token: str = "xapp-test-token"
    team: str = "T0TEST"
    bot_user: str = "UHGBOT"
    bot_id: str = "BHGBOT"
    signing_secret: str = "test-signing-secret"
    calls: list[Call] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)  # what was sent to response_urls
    not_in: set[str] = field(default_factory=set)  # channels the bot is not a member of
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    acks: dict[str, Ack] = field(default_factory=dict)
    pushed_at: dict[str, float] = field(default_factory=dict)
    base_url: str = ""

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._last_ts = 0.0
        self._limits: dict[str, list[int]] = {}
        self._login_pages: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self.connections = 0  # Socket Mode connections opened so far (a restarted app opens a new one)
        self._runner: web.AppRunner | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/files/{id}/{name}", self._download)
        app.router.add_post("/upload/{id}", self._upload)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/response/{id}", self._response_url)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner:
            await self._runner.cleanup()

    # ---- test helpers -----------------------------------------------------------------------
    def rate_limit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        self._limits.setdefault(method, []).extend([retry_after] * times)

    def add_file(self, name: str, data: bytes, mime: str, *, login_page: bool = False) -> dict[str, Any]:
        fid = f"F{next(self._ids):06d}"
        self.blobs[fid] = data
        if login_page:
            self._login_pages.add(fid)
        url = f"{self.base_url}/files/{fid}/{name}"
        info = {"id": fid, "name": name, "title": name, "mimetype": mime, "filetype": name.rsplit(".", 1)[-1],
                "size": len(data), "url_private": url, "url_private_download": url + "?download=1",
                "mode": "hosted", "user": "", "is_external": False}
        self.files[fid] = info
        return info

    def user_message(self, channel: str, user: str, text: str, *, thread_ts: str | None = None,
                     files: list[dict[str, Any]] | None = None, channel_type: str = "channel") -> dict[str, Any]:
        """Record a message a person posted and return it as the ``message`` event Slack would send."""
        msg: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": self._ts(),
                               "channel": channel, "channel_type": channel_type, "team": self.team}
        if thread_ts:
            msg["thread_ts"] = thread_ts
        if files:
            msg["files"] = files
            msg["subtype"] = "file_share"
        self.messages.setdefault(channel, []).append(msg)
        return dict(msg)

    def event_body(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        return {"token": "legacy", "team_id": self.team, "api_app_id": "AHGBOT", "type": "event_callback",
                "event": event, "event_id": event_id or f"Ev{next(self._ids):08d}", "event_time": int(time.time()),
                "authorizations": [{"team_id": self.team, "user_id": self.bot_user, "is_bot": True}]}

    def command_payload(self, text: str, *, user: str, channel: str, command: str = "/hgbot") -> dict[str, str]:
        return {"token": "legacy", "team_id": self.team, "team_domain": "test", "channel_id": channel,
                "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": command,
                "text": text, "api_app_id": "AHGBOT", "trigger_id": f"trig{next(self._ids)}",
                "response_url": f"{self.base_url}/response/{next(self._ids)}"}

    async def push(self, kind: str, payload: dict[str, Any], envelope_id: str | None = None,
                   retry_attempt: int = 0) -> str:
        """Send a Socket Mode envelope (``events_api`` or ``slash_commands``) to the connected app."""
        await self.wait_for(lambda: self._sockets, what="a Socket Mode connection")
        envelope_id = envelope_id or f"env-{next(self._ids)}"
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                    "accepts_response_payload": kind != "events_api", "retry_attempt": retry_attempt,
                    "retry_reason": "timeout" if retry_attempt else ""}
        self.pushed_at[envelope_id] = time.monotonic()
        await self._sockets[-1].send_str(json.dumps(envelope))
        return envelope_id

    async def wait_ack(self, envelope_id: str, within: float = 5) -> Ack:
        await self.wait_for(lambda: envelope_id in self.acks, within, what=f"ack of {envelope_id}")
        return self.acks[envelope_id]

    async def wait_for(self, predicate: Callable[[], Any], within: float = 10, what: str = "condition") -> Any:
        deadline = time.monotonic() + within
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; calls: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.02)

    def calls_to(self, method: str, ok_only: bool = True) -> list[Call]:
        return [c for c in self.calls if c.method == method and (c.status == 200 or not ok_only)]

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return sorted((m for m in self.messages.get(channel, [])
                       if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts), key=lambda m: float(m["ts"]))

    def bot_texts(self, channel: str, thread_ts: str) -> list[str]:
        """What hgbot shows in the thread now (after edits), oldest first."""
        return [m.get("text", "") for m in self.thread(channel, thread_ts) if m.get("user") == self.bot_user]

    def buttons(self, channel: str, ts: str) -> dict[str, str]:
        """The buttons a message shows now: action_id -> value."""
        msg = next(m for m in self.messages.get(channel, []) if m["ts"] == ts)
        return {e["action_id"]: e.get("value", "") for b in msg.get("blocks") or [] if b.get("type") == "actions"
                for e in b.get("elements", [])}

    def block_action(self, channel: str, message_ts: str, action_id: str, value: str, *, user: str,
                     thread_ts: str | None = None) -> dict[str, Any]:
        """The ``block_actions`` payload of a person pressing a button (push it as ``interactive``)."""
        message = {"type": "message", "ts": message_ts, **({"thread_ts": thread_ts} if thread_ts else {})}
        return {"type": "block_actions", "team": {"id": self.team}, "user": {"id": user}, "api_app_id": "AHGBOT",
                "token": "legacy", "trigger_id": f"trig{next(self._ids)}", "channel": {"id": channel},
                "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
                "message": message, "response_url": f"{self.base_url}/response/{next(self._ids)}",
                "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                             "action_ts": self._ts()}]}

    def sign(self, body: str, timestamp: str | None = None) -> dict[str, str]:
        ts = timestamp if timestamp is not None else str(int(time.time()))
        digest = hmac.new(self.signing_secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}

    # ---- server side ----------------------------------------------------------------------------
    def _ts(self) -> str:
        # strictly increasing, near the real clock (a slash command looks for files shared "recently")
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)  # slack_sdk sends some POST arguments as URL parameters
        if request.content_type == "application/json":
            args.update(await request.json())
        elif request.method == "POST":
            args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        auth = request.headers.get("Authorization", "")
        call = Call(method, args, time.monotonic())
        self.calls.append(call)
        if self._limits.get(method):
            call.status = 429
            retry_after = self._limits[method].pop(0)
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(retry_after)})
        expected = self.app_token if method == "apps.connections.open" else self.token
        if auth != f"Bearer {expected}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if args.get("channel") in self.not_in and method in ("chat.postMessage", "conversations.history"):
            return web.json_response({"ok": False, "error": "not_in_channel"})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(handler(args))

    def _m_auth_test(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "hgbot", "team_id": self.team,
                "user_id": self.bot_user, "bot_id": self.bot_id, "is_enterprise_install": False}

    def _m_apps_connections_open(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.base_url.replace("http://", "ws://") + "/socket"}

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args["channel"])
        msg = {"type": "message", "user": self.bot_user, "bot_id": self.bot_id, "text": args.get("text", ""),
               "ts": self._ts(), "channel": channel, "blocks": _blocks(args.get("blocks"))}
        if args.get("thread_ts"):
            msg["thread_ts"] = str(args["thread_ts"])
        self.messages.setdefault(channel, []).append(msg)
        return {"ok": True, "channel": channel, "ts": msg["ts"], "message": msg}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        for msg in self.messages.get(str(args["channel"]), []):
            if msg["ts"] == args["ts"]:
                msg["text"] = args.get("text", "")
                if "blocks" in args:
                    msg["blocks"] = _blocks(args["blocks"])
                return {"ok": True, "channel": args["channel"], "ts": args["ts"], "text": msg["text"]}
        return {"ok": False, "error": "message_not_found"}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._ts()}

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        msgs = self.thread(str(args["channel"]), str(args["ts"]))
        return {"ok": True, "messages": msgs, "has_more": False} if msgs else {"ok": False, "error": "thread_not_found"}

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        top = [m for m in self.messages.get(str(args["channel"]), []) if m.get("thread_ts", m["ts"]) == m["ts"]]
        limit = int(args.get("limit", 100))
        return {"ok": True, "messages": sorted(top, key=lambda m: -float(m["ts"]))[:limit], "has_more": False}

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        fid = f"F{next(self._ids):06d}"
        name = str(args.get("filename", "file"))
        self.files[fid] = {"id": fid, "name": name, "title": name, "size": int(args.get("length", 0)),
                           "mimetype": "", "url_private": f"{self.base_url}/files/{fid}/{name}"}
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{fid}", "file_id": fid}

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        listed = json.loads(args["files"])
        done = []
        for item in listed:
            info = self.files.get(item["id"])
            if info is None or item["id"] not in self.blobs:
                return {"ok": False, "error": "file_not_found"}
            info["title"] = item.get("title", info["name"])
            done.append(info)
        channel = str(args.get("channel_id", ""))
        if channel:
            msg = {"type": "message", "subtype": "file_share", "user": self.bot_user, "bot_id": self.bot_id,
                   "text": args.get("initial_comment", ""), "ts": self._ts(), "channel": channel, "files": done}
            if args.get("thread_ts"):
                msg["thread_ts"] = str(args["thread_ts"])
            self.messages.setdefault(channel, []).append(msg)
        return {"ok": True, "files": [{"id": f["id"], "title": f["title"]} for f in done]}

    def _m_files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        info = self.files.get(str(args.get("file", "")))
        return {"ok": True, "file": info} if info else {"ok": False, "error": "file_not_found"}

    def _m_assistant_threads_setStatus(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def _m_agents_sessions_setStatus(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    async def _download(self, request: web.Request) -> web.Response:
        fid = request.match_info["id"]
        authorized = request.headers.get("Authorization") == f"Bearer {self.token}"
        if fid not in self.blobs or not authorized or fid in self._login_pages:
            # what Slack really does: 200 with its sign-in page, not 401/403
            return web.Response(body=LOGIN_PAGE, content_type="text/html")
        return web.Response(body=self.blobs[fid], content_type=self.files[fid].get("mimetype") or "application/octet-stream")

    async def _response_url(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        fid = request.match_info["id"]
        if fid not in self.files:
            return web.Response(status=404)
        self.blobs[fid] = await request.read()
        return web.Response(text=f"OK - {len(self.blobs[fid])}")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        self.connections += 1
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1,
                                      "connection_info": {"app_id": "AHGBOT"}}))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    if "envelope_id" in data:
                        self.acks[data["envelope_id"]] = Ack(data["envelope_id"], data.get("payload"), time.monotonic())
        finally:
            self._sockets.remove(ws)
        return ws


def _blocks(value: Any) -> list[dict[str, Any]]:
    """Blocks arrive as a list (JSON bodies) or a JSON string (form bodies)."""
    if not value:
        return []
    return list(json.loads(value) if isinstance(value, str) else value)
