"""Run the Slack app: Socket Mode (``SLACK_APP_TOKEN``, no public URL) or HTTP (Events API and
the slash command at ``/slack/events``, signed with ``SLACK_SIGNING_SECRET``).

HTTP mode authenticates every request itself before bolt sees it, on the raw bytes: the
timestamp header must be a short run of ASCII digits within five minutes, the body at most
``MAX_BODY`` bytes, and ``X-Slack-Signature`` the HMAC of exactly those bytes. Anything else is
a 401, never a 500: bolt 1.30 answers a non-numeric timestamp with 500, ``int()`` refuses a
5,000-digit one, a 4,300-digit one overflows a float, and decoding a non-UTF-8 body before the
check raises, and a 5xx makes Slack (and scanners) retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.kit.host import Host, needs_jobs, service_of
from orchestrator.errors import ConfigError, Unreachable
from orchestrator.redact import redact_url

from .app import build_client, build_slack_parts
from .config import SlackConfig
from .errors import api_error

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
MAX_CLOCK_SKEW = 300  # Slack's own window: older requests may be replays
MAX_BODY = 1024 * 1024  # Slack's events and commands are a few KB; a bigger body cannot be genuine
_DRAIN_LIMIT = 32 * 1024 * 1024  # read (and drop) this much of an oversized body so the 401 is seen
_TIMESTAMP = re.compile(rb"[0-9]{1,12}")  # seconds since 1970: 10 digits until the year 2286
_SIGNATURE = re.compile(rb"v0=[0-9a-f]{64}")


async def serve_slack(app: Host, *, http: bool = False, port: int = 3000, host: str = "0.0.0.0",
                      on_ready: Callable[[str], None] | None = None) -> None:
    """Serve Slack until cancelled. ``on_ready`` receives the events URL (HTTP) or ``"socket-mode"``.

    Raises ``ConfigError`` when a token or the signing secret the mode needs is missing.
    """
    settings = app.settings.section(SlackConfig)
    if http and not settings.signing_secret:
        raise ConfigError("SLACK_SIGNING_SECRET is not set.", hint="HTTP mode verifies every request with it.")
    if not http and not settings.app_token.startswith("xapp-"):
        raise ConfigError("SLACK_APP_TOKEN (xapp-…) is not set.",
                          hint="Socket Mode needs an app-level token with connections:write; or use --http.")
    await check_credentials(settings, socket_mode=not http)
    bolt, listeners = build_slack_parts(app)
    await listeners.recover()  # before new events: interrupted threads are told, queued jobs rejoin the line
    # a replica that stops later (another host: its heartbeat goes stale) is taken over while serving
    sweeper = asyncio.create_task(needs_jobs(service_of(app)).sweep_forever(["slack"], listeners.take))
    try:
        if http:
            await _serve_http(bolt, settings.signing_secret, host, port, on_ready)
        else:
            await _serve_socket_mode(bolt, settings.app_token, on_ready)
    finally:
        sweeper.cancel()
        # let answers in progress reach their threads before the process goes; queued ones wait for
        # the next start-up (their rows stay queued)
        jobs = service_of(app).jobs
        if jobs is not None:
            jobs.shed_waiting()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(listeners.drain(), 10)


_BAD_TOKEN = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type"}


async def check_credentials(settings: SlackConfig, *, socket_mode: bool) -> str:
    """Ask Slack whether the tokens work before serving (``auth.test``; in Socket Mode also
    ``apps.connections.open`` with the app token), and return the bot's name.

    Raises ``ConfigError`` for a token Slack refuses (one line for the operator, instead of
    a reconnect loop printing tracebacks) and ``Unreachable`` when Slack cannot be reached.
    """
    where = redact_url(settings.api_url) if settings.api_url else "slack.com"
    client = build_client(settings)
    try:
        auth = await client.auth_test()
        if socket_mode:
            await AsyncWebClient(token=settings.app_token, base_url=client.base_url).apps_connections_open(
                app_token=settings.app_token)
    except SlackApiError as exc:
        code = api_error(exc)
        which = "SLACK_APP_TOKEN" if exc.response.api_url.endswith("apps.connections.open") else "SLACK_BOT_TOKEN"
        if code in _BAD_TOKEN:
            raise ConfigError(f"Slack refused {which} ({code}).",
                              hint="Copy the token again from the app's settings page (see adapters/slack/README.md).") \
                from exc
        raise Unreachable(f"Slack at {where} answered {code} to the token check.") from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise Unreachable(f"Cannot reach Slack at {where} ({type(exc).__name__}: {exc}).") from exc
    return str(auth.get("user") or "hgbot")


async def _serve_socket_mode(bolt: AsyncApp, app_token: str, on_ready: Callable[[str], None] | None) -> None:
    handler = AsyncSocketModeHandler(bolt, app_token, web_client=bolt.client)
    await handler.connect_async()  # type: ignore[no-untyped-call]  # slack_bolt leaves it unannotated
    log.info("Slack: connected in Socket Mode")
    if on_ready:
        on_ready("socket-mode")
    try:
        await asyncio.Event().wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


async def _serve_http(bolt: AsyncApp, signing_secret: str, host: str, port: int,
                      on_ready: Callable[[str], None] | None) -> None:
    runner = web.AppRunner(build_http_app(bolt, signing_secret))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:  # a port in use or not ours to take: the operator's to fix, not a bug
        await runner.cleanup()
        raise ConfigError(f"Cannot listen on {host}:{port} ({exc.strerror or exc}).",
                          hint="Choose another --port, or stop what is using it.") from exc
    bound = runner.addresses[0][1] if runner.addresses else port
    url = f"http://{host}:{bound}{EVENTS_PATH}"
    log.info("Slack: listening on %s", url)
    if on_ready:
        on_ready(url)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def build_http_app(bolt: AsyncApp, signing_secret: str, *,
                   clock: Callable[[], float] = time.time) -> web.Application:
    """The aiohttp application: ``POST /slack/events`` (events and commands) and ``GET /healthz``.

    ``signing_secret`` authenticates every request before bolt parses it.
    """
    secret = signing_secret.encode()
    if not secret:
        raise ConfigError("SLACK_SIGNING_SECRET is not set.", hint="HTTP mode verifies every request with it.")

    async def events(request: web.Request) -> web.StreamResponse:
        raw = await _read_capped(request)
        if raw is None or not authentic(request.raw_headers, raw, secret, clock()):
            response = web.json_response({"error": "invalid signature or timestamp"}, status=401)
            if raw is None:
                response.force_close()  # the rest of an oversized body is not worth reading
            return response
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:  # signed by the secret's holder, yet not what Slack sends
            return web.json_response({"error": "the body is not UTF-8"}, status=400)
        bolt_request = AsyncBoltRequest(body=body, query=request.query_string,
                                        headers=request.headers)  # type: ignore[arg-type]
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    web_app = web.Application()
    web_app.router.add_post(EVENTS_PATH, events)
    web_app.router.add_get("/healthz", health)
    return web_app


async def _read_capped(request: web.Request) -> bytes | None:
    """The body, or None when it is over ``MAX_BODY`` (what is left of it is drained, up to a limit)."""
    parts: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY:
            while size <= _DRAIN_LIMIT and (chunk := await request.content.read(64 * 1024)):
                size += len(chunk)
            return None
        parts.append(chunk)
    return b"".join(parts)


def authentic(raw_headers: tuple[tuple[bytes, bytes], ...], body: bytes, secret: bytes, now: float) -> bool:
    """Slack's v0 signature over the raw bytes, checked without decoding or converting anything
    that has not first been shown to be short ASCII digits or hex."""
    timestamps = [v.strip() for k, v in raw_headers if k.lower() == b"x-slack-request-timestamp"]
    signatures = [v.strip() for k, v in raw_headers if k.lower() == b"x-slack-signature"]
    if len(timestamps) != 1 or len(signatures) != 1:
        return False
    timestamp, signature = timestamps[0], signatures[0]
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return False
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW:
        return False
    expected = b"v0=" + hmac.new(secret, b"v0:" + timestamp + b":" + body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, signature)
