"""``hgbot serve``: run Slack and/or Discord on one orchestrator (one model cache, one GPU queue)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

from orchestrator.errors import ConfigError

from .config import Settings


def _require_slack(settings: Settings, http: bool) -> None:
    if not settings.slack_bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set.", hint="Create the app from adapters/slack/manifest.yml (README).")
    if http and not settings.slack_signing_secret:
        raise ConfigError("HTTP mode needs SLACK_SIGNING_SECRET (Basic Information → App Credentials).")
    if not http and not settings.slack_app_token:
        raise ConfigError("Socket Mode needs SLACK_APP_TOKEN (xapp-…, with connections:write), or use --http.")


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.platform == "discord" and args.invite_url:
        from adapters.discord import application_id_from_token, invite_url

        if not settings.discord_token:
            raise ConfigError("DISCORD_TOKEN is not set.")
        print(invite_url(application_id_from_token(settings.discord_token)))
        return 0
    if args.platform in ("slack", "all"):
        _require_slack(settings, args.http)
    if args.platform in ("discord", "all") and not settings.discord_token:
        raise ConfigError("DISCORD_TOKEN is not set.", hint="Create a bot in the Discord developer portal (README).")

    from .app import build_app

    app = await build_app(settings)
    _observe(app, settings)
    jobs: list[Coroutine[Any, Any, None]] = []
    if args.platform in ("slack", "all"):
        from adapters.slack import serve_slack

        jobs.append(serve_slack(app, http=args.http, port=args.port, host=args.host,
                                on_ready=lambda where: print(f"hgbot: Slack ready ({where})", file=sys.stderr)))
    if args.platform in ("discord", "all"):
        from adapters.discord import serve_discord

        jobs.append(serve_discord(app))
        print("hgbot: connecting to Discord…", file=sys.stderr)
    try:
        await asyncio.gather(*jobs)
    finally:
        await app.close()
    return 0


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
