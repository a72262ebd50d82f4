"""The Discord adapter: mentions, threads, DMs and ``/hgbot``, on discord.py.

Public surface (``bot/cli.py`` wires these; discord.py types never leave this package)::

    await serve_discord(app)        # runs until cancelled; needs settings.discord_token
    invite_url(application_id)      # the URL that adds hgbot to a server
    build_discord_client(app)       # an unconnected client, for tests
"""

from .client import HgbotClient, application_id_from_token, build_discord_client, serve_discord
from .invite import invite_url

__all__ = ["HgbotClient", "application_id_from_token", "build_discord_client", "invite_url", "serve_discord"]
