"""The Discord adapter: mentions, threads, DMs and ``/hgbot``, on discord.py.

Public surface (the platform registry wires these; discord.py types never leave this package,
and discord.py loads on first use of one of them)::

    await serve_discord(app)        # runs until cancelled; needs the [discord] token
    invite_url(application_id)      # the URL that adds hgbot to a server
    build_discord_client(app)       # an unconnected client, for tests
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import HgbotClient, application_id_from_token, build_discord_client, serve_discord
    from .invite import invite_url

__all__ = ["HgbotClient", "application_id_from_token", "build_discord_client", "invite_url", "serve_discord"]


def __getattr__(name: str) -> Any:
    if name == "invite_url":
        from .invite import invite_url

        return invite_url
    if name in __all__:
        from . import client

        return getattr(client, name)
    raise AttributeError(name)
