"""``hgbot serve``: run the registered chat platforms (``bot.platforms``) on one orchestrator (one model cache, one GPU queue).

Start-up checks the credentials first (a refused token is one line and exit 2, not a reconnect
loop); ``all`` serves every platform that is configured and names them. A platform that cannot
be reached (DNS, refused connection) is retried with a capped backoff: a network outage is not
a bug, and the bot should come back by itself when the network does.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from adapters.kit.platform import ServeOptions
from orchestrator.errors import ConfigError, Unreachable
from orchestrator.redact import Redactor

from .config import Settings
from .platforms import PLATFORMS, platform

BACKOFF = (2.0, 120.0)  # first wait and cap, in seconds
_STABLE = 300.0  # a connection that lasted this long resets the backoff
# What a network failure looks like from the SDKs; not every OSError (a port in use is no outage).
NETWORK_ERRORS = (Unreachable, ConnectionError, socket.gaierror, aiohttp.ClientError, TimeoutError)


def platforms(args: argparse.Namespace, settings: Settings) -> list[str]:
    """The platforms to serve: the one named, or for ``all`` every registered one that is configured.

    Raises ``ConfigError`` when a needed setting is missing, or ``all`` finds none configured.
    """
    if args.platform == "all":
        chosen = [p.name for p in PLATFORMS if settings.section(p.config).configured]
        if not chosen:
            raise ConfigError("No chat platform is configured.",
                              hint="Set " + " and/or ".join(p.not_configured_hint for p in PLATFORMS) + "; see "
                                   + " and ".join(f"adapters/{p.name}/README.md" for p in PLATFORMS) + ".")
    else:
        chosen = [args.platform]
    for name in chosen:
        plat = platform(name)
        plat.require(settings.section(plat.config), _options(args))
    return chosen


def _options(args: argparse.Namespace, on_ready: Callable[[str], None] | None = None) -> ServeOptions:
    return ServeOptions(http=bool(getattr(args, "http", False)), port=int(getattr(args, "port", 3000)),
                        host=str(getattr(args, "host", "0.0.0.0")), on_ready=on_ready)


def say(line: str) -> None:
    print(f"hgbot: {line}", file=sys.stderr, flush=True)


async def serve(args: argparse.Namespace, settings: Settings, *,
                backoff: tuple[float, float] = BACKOFF) -> int:
    named = platform(args.platform) if args.platform != "all" else None
    if named is not None and named.invite_url is not None and getattr(args, "invite_url", False):
        print(named.invite_url(settings.section(named.config)))
        return 0
    chosen = [platform(name) for name in platforms(args, settings)]
    redact = Redactor(settings.secrets())
    for plat in chosen:  # before anything loads: a refused token ends here with one line
        await retrying(plat.title, _bind(plat.check_credentials, settings.section(plat.config), _options(args)),
                       backoff, redact)

    from .app import build_app

    app = await build_app(settings)
    _observe(app, settings)
    jobs: list[Awaitable[None]] = []
    for plat in chosen:
        ready = _ready_line(plat.title) if plat.announces_ready else None
        jobs.append(retrying(plat.title, _bind(plat.serve, app, _options(args, ready)), backoff, redact))
        if not plat.announces_ready:
            say(f"connecting to {plat.title}…")
    say("serving: " + ", ".join(p.name for p in chosen))
    try:
        await asyncio.gather(*jobs)
    finally:
        await app.close()
    return 0


async def retrying(name: str, start: Callable[[], Awaitable[object]], backoff: tuple[float, float],
                   redact: Redactor) -> None:
    """Run ``start()`` until it returns; on a network failure say what could not be reached and
    try again after a doubling wait, capped. ``ConfigError`` (a refused token) is not retried."""
    delay, cap = backoff
    while True:
        began = time.monotonic()
        try:
            await start()
            return
        except NETWORK_ERRORS as exc:
            if time.monotonic() - began > _STABLE:
                delay = backoff[0]
            what = exc.user_message() if isinstance(exc, Unreachable) else f"Cannot reach {name} ({type(exc).__name__}: {exc})."
            say(redact(f"{what} Retrying in {delay:g} s."))
            await asyncio.sleep(delay)
            delay = min(delay * 2, cap)


def _bind(call: Callable[[Any, ServeOptions], Awaitable[object]], first: Any,
          options: ServeOptions) -> Callable[[], Awaitable[object]]:
    return lambda: call(first, options)


def _ready_line(title: str) -> Callable[[str], None]:
    return lambda where: say(f"{title} ready ({where})")


def _observe(app: Any, settings: Settings) -> None:
    """JSON log lines (``HGBOT_LOG_FORMAT=json``) and Prometheus metrics (``HGBOT_METRICS_PORT``)."""
    if settings.log_format.strip().lower() == "json":
        from .logs import use_json_logs

        use_json_logs()
    if settings.metrics_port:
        from orchestrator.metrics import Metrics

        metrics = Metrics()
        app.jobs.attach_metrics(metrics)
        port = metrics.serve(settings.metrics_port, settings.metrics_host)
        print(f"hgbot: metrics on http://{settings.metrics_host}:{port}/metrics", file=sys.stderr)
