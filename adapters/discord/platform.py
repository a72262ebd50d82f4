"""Discord, declared to the platform registry (``bot/platforms.py``). discord.py loads only when
serving."""

from __future__ import annotations

from typing import Any

from adapters.kit.host import Host
from adapters.kit.platform import DoctorRow, Platform, ServeOptions
from orchestrator.errors import ConfigError

from .config import DiscordConfig


def _require(config: Any, options: ServeOptions) -> None:
    if not config.token:
        raise ConfigError("DISCORD_TOKEN is not set.", hint="Create a bot in the Discord developer portal (README).")


async def _check(config: Any, options: ServeOptions) -> str:
    from .auth import check_token

    return await check_token(config)


async def _serve(host: Host, options: ServeOptions) -> None:
    from .client import serve_discord

    await serve_discord(host)


def _invite(config: Any) -> str:
    """The URL that adds the bot to a server. Raises ``ConfigError`` without a token."""
    from .client import application_id_from_token
    from .invite import invite_url

    cfg: DiscordConfig = config
    if not cfg.token:
        raise ConfigError("DISCORD_TOKEN is not set.")
    return invite_url(application_id_from_token(cfg.token))


def _doctor(config: Any) -> DoctorRow:
    cfg: DiscordConfig = config
    if not cfg.token:
        return "warn", "not configured (DISCORD_TOKEN)"
    try:
        url = _invite(cfg)
    except Exception:
        url = "run 'hgbot serve discord --invite-url'"
    return "ok", "token set; invite URL: " + url


PLATFORM = Platform(name="discord", title="Discord", config=DiscordConfig, require=_require, check_credentials=_check,
                    serve=_serve, doctor=_doctor, invite_url=_invite, not_configured_hint="DISCORD_TOKEN")
