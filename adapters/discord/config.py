"""The ``[discord]`` config section (or its ``DISCORD_*`` environment variables)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from adapters.kit.platform import PlatformConfig


@dataclass
class DiscordConfig(PlatformConfig):
    token: str = ""
    api_base: str = ""  # a stand-in Discord (tests, proxies)
    gateway_url: str = ""
    dms: bool = True  # answer direct messages

    name: ClassVar[str] = "discord"
    env: ClassVar[dict[str, str]] = {
        "token": "DISCORD_TOKEN",
        "api_base": "DISCORD_API_BASE",
        "gateway_url": "DISCORD_GATEWAY_URL",
        "dms": "HGBOT_DISCORD_DMS",
    }
    secrets: ClassVar[frozenset[str]] = frozenset({"token"})
    urls: ClassVar[frozenset[str]] = frozenset({"api_base", "gateway_url"})

    @property
    def configured(self) -> bool:
        return bool(self.token)
