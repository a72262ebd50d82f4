"""hgbot's Slack adapter: slash command, mentions, thread replies and DMs, over Socket Mode or HTTP.

Public surface: ``serve_slack`` (what ``hgbot serve slack`` runs) and ``build_slack_app``
(the bolt app, for tests and custom servers). Slack SDK types never leave this package, and
slack_bolt loads on first use of either (the platform registry imports ``config``/``platform`` only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import build_slack_app
    from .server import serve_slack

__all__ = ["build_slack_app", "serve_slack"]


def __getattr__(name: str) -> Any:
    if name == "build_slack_app":
        from .app import build_slack_app

        return build_slack_app
    if name == "serve_slack":
        from .server import serve_slack

        return serve_slack
    raise AttributeError(name)
