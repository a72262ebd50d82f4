"""Translate slack_sdk errors at the boundary: a short reason string for logs and people."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError


def api_error(exc: SlackApiError) -> str:
    """Slack's ``error`` code (``not_in_channel``, ``ratelimited``…), or the HTTP status when the body was not JSON."""
    data = exc.response.data
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return f"HTTP {exc.response.status_code}"
