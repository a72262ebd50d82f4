"""Slack, declared to the platform registry (``bot/platforms.py``). slack_bolt loads only when
serving or checking credentials."""

from __future__ import annotations

from typing import Any

from adapters.kit.host import Host
from adapters.kit.platform import DoctorRow, Platform, ServeOptions
from orchestrator.errors import ConfigError

from .config import SlackConfig


def _require(config: Any, options: ServeOptions) -> None:
    cfg: SlackConfig = config
    if not cfg.bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set.", hint="Create the app from adapters/slack/manifest.yml (README).")
    if options.http and not cfg.signing_secret:
        raise ConfigError("HTTP mode needs SLACK_SIGNING_SECRET (Basic Information → App Credentials).")
    if not options.http and not cfg.app_token:
        raise ConfigError("Socket Mode needs SLACK_APP_TOKEN (xapp-…, with connections:write), or use --http.")


async def _check(config: Any, options: ServeOptions) -> str:
    from .server import check_credentials

    return await check_credentials(config, socket_mode=not options.http)


async def _serve(host: Host, options: ServeOptions) -> None:
    from .server import serve_slack

    await serve_slack(host, http=options.http, port=options.port, host=options.host, on_ready=options.on_ready)


def _doctor(config: Any) -> DoctorRow:
    cfg: SlackConfig = config
    if not cfg.bot_token:
        return "warn", "not configured (SLACK_BOT_TOKEN)"
    mode = "Socket Mode" if cfg.app_token else ("HTTP mode" if cfg.signing_secret else "")
    return ("ok", mode) if mode else ("fail", "SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) "
                                              "nor SLACK_SIGNING_SECRET (HTTP mode)")


PLATFORM = Platform(name="slack", title="Slack", config=SlackConfig, require=_require, check_credentials=_check,
                    serve=_serve, doctor=_doctor, announces_ready=True,
                    not_configured_hint="SLACK_BOT_TOKEN (with SLACK_APP_TOKEN, or SLACK_SIGNING_SECRET and --http)")
