"""hgbot's Slack adapter: slash command, mentions, thread replies and DMs, over Socket Mode or HTTP.

Public surface: ``serve_slack`` (what ``hgbot serve slack`` runs) and ``build_slack_app``
(the bolt app, for tests and custom servers). Slack SDK types never leave this package.
"""

from .app import build_slack_app
from .server import serve_slack

__all__ = ["build_slack_app", "serve_slack"]
