"""The platform registry: every chat platform hgbot can serve, in the order ``serve all`` starts them.

A platform is declared by its adapter (``adapters/<name>/platform.py``); adding one is one line
here. ``serve``, ``doctor``, the CLI and the config loader iterate this list.
"""

from __future__ import annotations

from adapters.discord.platform import PLATFORM as DISCORD
from adapters.kit.platform import Platform
from adapters.slack.platform import PLATFORM as SLACK

PLATFORMS: tuple[Platform, ...] = (SLACK, DISCORD)


def platform(name: str) -> Platform:
    """The platform called ``name``; KeyError for none."""
    return {p.name: p for p in PLATFORMS}[name]
