"""How a chat platform declares itself: its config section and what ``hgbot serve`` / ``doctor`` run.

Each adapter package has a ``platform.py`` holding one ``Platform``; ``bot/platforms.py`` lists
them, and the CLI, ``serve`` and ``doctor`` iterate that list instead of naming platforms. A
``Platform``'s callables import the platform's SDK only when called, so listing platforms is cheap.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .host import Host


@dataclass
class PlatformConfig:
    """A platform's config section: the ``[name]`` table of the config file, or its env variables.

    Subclasses are dataclasses of plain fields (str, bool, int, float, list[str]) and say which
    environment variable sets each field (``env``), which fields are credentials (``secrets``:
    never printed) and which are URLs (``urls``: printed redacted). In the file, a key may be
    written with or without the ``name_`` prefix (``[slack] bot_token`` or ``slack_bot_token``).
    """

    name: ClassVar[str] = ""
    env: ClassVar[dict[str, str]] = {}
    secrets: ClassVar[frozenset[str]] = frozenset()
    urls: ClassVar[frozenset[str]] = frozenset()

    @property
    def configured(self) -> bool:
        """Whether ``hgbot serve all`` should start this platform (its token is set)."""
        return False


@dataclass(frozen=True)
class ServeOptions:
    """``hgbot serve``'s options; each platform reads the ones it has (``http``/``port`` are Slack's)."""

    http: bool = False
    port: int = 3000
    host: str = "0.0.0.0"
    on_ready: Callable[[str], None] | None = None


DoctorRow = tuple[str, str]  # ("ok" | "warn" | "fail", detail)


@dataclass(frozen=True)
class Platform:
    """One chat platform, as ``serve``, ``doctor`` and the CLI see it."""

    name: str  # the CLI's name: hgbot serve <name>
    title: str  # how lines name it: "Slack"
    config: type[PlatformConfig]
    # raises ConfigError naming the missing setting for these options
    require: Callable[[Any, ServeOptions], None]
    # asks the platform whether the credentials work; the bot's name. ConfigError / Unreachable
    check_credentials: Callable[[Any, ServeOptions], Awaitable[str]]
    # serves until cancelled
    serve: Callable[[Host, ServeOptions], Awaitable[None]]
    # the doctor's line for this platform
    doctor: Callable[[Any], DoctorRow]
    not_configured_hint: str = ""  # what ``serve all`` says to set when no platform is configured
    announces_ready: bool = False  # serve calls ``ServeOptions.on_ready`` once it listens
    invite_url: Callable[[Any], str] | None = None  # ``hgbot serve <name> --invite-url``
