"""``hgbot serve``: run Slack and/or Discord on one orchestrator (one model cache, one GPU queue).

Start-up checks the credentials first (a refused token is one line and exit 2, not a reconnect
loop); ``all`` serves every platform that is configured and names them. A platform that cannot
be reached (DNS, refused connection) is retried with a capped backoff: a network outage is not
a bug, and the bot should come back by itself when the network does.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from orchestrator.errors import ConfigError, Unreachable
from orchestrator.redact import Redactor

from .config import Settings

BACKOFF = (2.0, 120.0)  # first wait and cap, in seconds
_STABLE = 300.0  # a connection that lasted this long resets the backoff
# What a network failure looks like from the SDKs; not every OSError (a port in use is no outage).
NETWORK_ERRORS = (Unreachable, ConnectionError, socket.gaierror, aiohttp.ClientError, TimeoutError)


def _require_slack(settings: Settings, http: bool) -> None:
    if not settings.slack_bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set.", hint="Create the app from adapters/slack/manifest.yml (README).")
    if http and not settings.slack_signing_secret:
        raise ConfigError("HTTP mode needs SLACK_SIGNING_SECRET (Basic Information → App Credentials).")
    if not http and not settings.slack_app_token:
        raise ConfigError("Socket Mode needs SLACK_APP_TOKEN (xapp-…, with connections:write), or use --http.")


def platforms(args: argparse.Namespace, settings: Settings) -> list[str]:
    """The platforms to serve: the one named, or for ``all`` every one with a token set.

    Raises ``ConfigError`` when a needed setting is missing, or ``all`` finds none configured.
    """
    if args.platform == "all":
        chosen = [p for p, token in (("slack", settings.slack_bot_token), ("discord", settings.discord_token)) if token]
        if not chosen:
            raise ConfigError("No chat platform is configured.",
                              hint="Set SLACK_BOT_TOKEN (with SLACK_APP_TOKEN, or SLACK_SIGNING_SECRET and --http) "
                                   "and/or DISCORD_TOKEN; see adapters/slack/README.md and adapters/discord/README.md.")
    else:
        chosen = [args.platform]
    if "slack" in chosen:
        _require_slack(settings, args.http)
    if "discord" in chosen and not settings.discord_token:
        raise ConfigError("DISCORD_TOKEN is not set.", hint="Create a bot in the Discord developer portal (README).")
    return chosen


def say(line: str) -> None:
    print(f"hgbot: {line}", file=sys.stderr, flush=True)


async def serve(args: argparse.Namespace, settings: Settings, *,
                backoff: tuple[float, float] = BACKOFF) -> int:
    if args.platform == "discord" and args.invite_url:
        from adapters.discord import application_id_from_token, invite_url

        if not settings.discord_token:
            raise ConfigError("DISCORD_TOKEN is not set.")
        print(invite_url(application_id_from_token(settings.discord_token)))
        return 0
    chosen = platforms(args, settings)
    redact = Redactor(settings.secrets())
    if "slack" in chosen:
        from adapters.slack.server import check_credentials

        # before anything loads: a refused token ends here with one line
        await retrying("Slack", lambda: check_credentials(settings, socket_mode=not args.http), backoff, redact)
    if "discord" in chosen:
        from adapters.discord.auth import check_token

        await retrying("Discord", lambda: check_token(settings), backoff, redact)

    from .app import build_app

    app = await build_app(settings)
    _observe(app, settings)
    jobs: list[Awaitable[None]] = []
    if "slack" in chosen:
        from adapters.slack import serve_slack

        jobs.append(retrying("Slack", lambda: serve_slack(app, http=args.http, port=args.port, host=args.host,
                                                          on_ready=lambda where: say(f"Slack ready ({where})")),
                             backoff, redact))
    if "discord" in chosen:
        from adapters.discord import serve_discord

        jobs.append(retrying("Discord", lambda: serve_discord(app), backoff, redact))
        say("connecting to Discord…")
    say("serving: " + ", ".join(chosen))
    try:
        await asyncio.gather(*jobs)
    finally:
        await app.close()
    return 0


async def retrying(name: str, start: Callable[[], Awaitable[object]], backoff: tuple[float, float],
                   redact: Redactor) -> None:
    """Run ``start()`` until it returns; on a network failure say what could not be reached and
    try again after a doubling wait, capped. ``ConfigError`` (a refused token) is not retried."""
    delay, cap = backoff
    while True:
        began = time.monotonic()
        try:
            await start()
            return
        except NETWORK_ERRORS as exc:
            if time.monotonic() - began > _STABLE:
                delay = backoff[0]
            what = exc.user_message() if isinstance(exc, Unreachable) else f"Cannot reach {name} ({type(exc).__name__}: {exc})."
            say(redact(f"{what} Retrying in {delay:g} s."))
            await asyncio.sleep(delay)
            delay = min(delay * 2, cap)


def _observe(app: Any, settings: Settings) -> None:
    """JSON log lines (``HGBOT_LOG_FORMAT=json``) and Prometheus metrics (``HGBOT_METRICS_PORT``)."""
    if settings.log_format.strip().lower() == "json":
        from .logs import use_json_logs

        use_json_logs()
    if settings.metrics_port:
        from orchestrator.metrics import Metrics

        metrics = Metrics()
        app.jobs.attach_metrics(metrics)
        port = metrics.serve(settings.metrics_port, settings.metrics_host)
        print(f"hgbot: metrics on http://{settings.metrics_host}:{port}/metrics", file=sys.stderr)
