"""The ``[slack]`` config section (or its ``SLACK_*`` environment variables)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from adapters.kit.platform import PlatformConfig


@dataclass
class SlackConfig(PlatformConfig):
    bot_token: str = ""
    app_token: str = ""  # Socket Mode
    signing_secret: str = ""  # HTTP mode
    api_url: str = ""  # a stand-in Slack (tests, proxies)
    command: str = "/hgbot"

    name: ClassVar[str] = "slack"
    env: ClassVar[dict[str, str]] = {
        "bot_token": "SLACK_BOT_TOKEN",
        "app_token": "SLACK_APP_TOKEN",
        "signing_secret": "SLACK_SIGNING_SECRET",
        "api_url": "SLACK_API_URL",
        "command": "HGBOT_SLACK_COMMAND",
    }
    secrets: ClassVar[frozenset[str]] = frozenset({"bot_token", "app_token", "signing_secret"})
    urls: ClassVar[frozenset[str]] = frozenset({"api_url"})

    @property
    def configured(self) -> bool:
        return bool(self.bot_token)
