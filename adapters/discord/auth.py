"""Check the bot token before connecting: a refused token is a configuration error to report
once, and an unreachable Discord an outage to retry, neither a gateway reconnect loop."""

from __future__ import annotations

import aiohttp

from orchestrator.errors import ConfigError, Unreachable
from orchestrator.redact import redact_url

from .config import DiscordConfig
from .endpoints import OFFICIAL_API_BASE


async def check_token(settings: DiscordConfig) -> str:
    """The bot's user name, from ``GET /users/@me`` with ``DISCORD_TOKEN`` (what discord.py's login does).

    Raises ``ConfigError`` when Discord refuses the token, ``Unreachable`` when it cannot be reached.
    """
    if not settings.token:
        raise ConfigError("DISCORD_TOKEN is not set.")
    base = (settings.api_base or OFFICIAL_API_BASE).rstrip("/")
    where = redact_url(base)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session, session.get(
                f"{base}/users/@me", headers={"Authorization": f"Bot {settings.token}"}) as resp:
            if resp.status == 401:
                raise ConfigError("Discord rejected DISCORD_TOKEN.",
                                  hint="Reset the token under Bot in the developer portal and export it again.")
            if resp.status != 200:
                raise Unreachable(f"Discord at {where} answered HTTP {resp.status} to the token check.")
            me = await resp.json()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unreachable(f"Cannot reach Discord at {where} ({type(exc).__name__}: {exc}).") from exc
    return str(me.get("username") or "hgbot") if isinstance(me, dict) else "hgbot"
