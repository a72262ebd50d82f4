"""Run the Slack app: Socket Mode (``SLACK_APP_TOKEN``, no public URL) or HTTP (Events API and
the slash command at ``/slack/events``, signed with ``SLACK_SIGNING_SECRET``).

HTTP mode checks ``X-Slack-Request-Timestamp`` before bolt does: bolt 1.30 answers a
non-numeric timestamp with 500, and a refused request must be a 401 so nothing retries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from orchestrator.errors import ConfigError

from .app import build_slack_parts

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
MAX_CLOCK_SKEW = 300  # Slack's own window: older requests may be replays


async def serve_slack(app: App, *, http: bool = False, port: int = 3000, host: str = "0.0.0.0",
                      on_ready: Callable[[str], None] | None = None) -> None:
    """Serve Slack until cancelled. ``on_ready`` receives the events URL (HTTP) or ``"socket-mode"``.

    Raises ``ConfigError`` when a token or the signing secret the mode needs is missing.
    """
    settings = app.settings
    if http and not settings.slack_signing_secret:
        raise ConfigError("SLACK_SIGNING_SECRET is not set.", hint="HTTP mode verifies every request with it.")
    if not http and not settings.slack_app_token.startswith("xapp-"):
        raise ConfigError("SLACK_APP_TOKEN (xapp-…) is not set.",
                          hint="Socket Mode needs an app-level token with connections:write; or use --http.")
    bolt, listeners = build_slack_parts(app)
    await listeners.recover()  # before new events: interrupted threads are told, queued jobs rejoin the line
    try:
        if http:
            await _serve_http(bolt, settings.slack_signing_secret, host, port, on_ready)
        else:
            await _serve_socket_mode(bolt, settings.slack_app_token, on_ready)
    finally:
        # let answers in progress reach their threads before the process goes; queued ones wait for
        # the next start-up (their rows stay queued)
        app.jobs.shed_waiting()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(listeners.drain(), 10)


async def _serve_socket_mode(bolt: AsyncApp, app_token: str, on_ready: Callable[[str], None] | None) -> None:
    handler = AsyncSocketModeHandler(bolt, app_token, web_client=bolt.client)
    await handler.connect_async()
    log.info("Slack: connected in Socket Mode")
    if on_ready:
        on_ready("socket-mode")
    try:
        await asyncio.Event().wait()
    finally:
        await handler.close_async()


async def _serve_http(bolt: AsyncApp, signing_secret: str, host: str, port: int,
                      on_ready: Callable[[str], None] | None) -> None:
    runner = web.AppRunner(build_http_app(bolt))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    url = f"http://{host}:{bound}{EVENTS_PATH}"
    log.info("Slack: listening on %s", url)
    if on_ready:
        on_ready(url)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def build_http_app(bolt: AsyncApp, *, clock: Callable[[], float] = time.time) -> web.Application:
    """The aiohttp application: ``POST /slack/events`` (events and commands) and ``GET /healthz``."""

    async def events(request: web.Request) -> web.Response:
        if not _fresh(request.headers.get("X-Slack-Request-Timestamp", ""), clock()):
            return web.json_response({"error": "invalid or stale X-Slack-Request-Timestamp"}, status=401)
        bolt_response = await bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    web_app = web.Application()
    web_app.router.add_post(EVENTS_PATH, events)
    web_app.router.add_get("/healthz", health)
    return web_app


def _fresh(timestamp: str, now: float) -> bool:
    return timestamp.isascii() and timestamp.isdigit() and abs(now - int(timestamp)) <= MAX_CLOCK_SKEW
