"""Point one discord.py client at other REST and gateway URLs (a proxy in front of Discord, or a fake).

discord.py builds every REST URL from the class attribute ``discord.http.Route.BASE`` and opens the
gateway at ``DiscordWebSocket.DEFAULT_GATEWAY`` (``Client`` never asks ``/gateway/bot``; after READY it
resumes at ``resume_gateway_url``). Changing those class attributes would redirect every client in
the process, so instead we rewrite URLs on the way out, for one client only:

- ``HTTPClient.request`` and ``HTTPClient.ws_connect`` are wrapped on the client's own ``http`` object;
- interaction callbacks and follow-ups go through discord.py's webhook adapter, looked up in the
  ``async_context`` context variable: ``scoped_webhooks()`` sets a rewriting adapter for the tasks the
  client starts (every event handler inherits the context of ``Client.start``).

Rules: a REST URL under the official API base is moved under ``api_base``. A gateway URL on the
configured gateway's host is kept as it is (so a ``resume_gateway_url`` that the proxy or fake sent
is honoured); any other gateway URL (Discord's default, or a regional resume URL Discord handed out)
is replaced by ``gateway_url``, keeping its query (``v``, ``encoding``, ``compress``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import discord
import yarl
from discord.http import Route
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

OFFICIAL_API_BASE = Route.BASE  # read at import: "https://discord.com/api/v10"


@dataclass(frozen=True)
class Endpoints:
    """Where one client talks to. Empty strings keep Discord's own URLs."""

    api_base: str = ""
    gateway_url: str = ""

    def rest(self, url: str) -> str:
        if self.api_base and url.startswith(OFFICIAL_API_BASE):
            return self.api_base.rstrip("/") + url[len(OFFICIAL_API_BASE):]
        return url

    def gateway(self, url: str) -> str:
        if not self.gateway_url:
            return url
        target = yarl.URL(self.gateway_url)
        given = yarl.URL(url)
        if (given.host, given.port) == (target.host, target.port):
            return url
        return str(target.with_query(given.query))

    def install(self, client: discord.Client) -> None:
        """Wrap ``client.http`` so its REST calls and gateway connections use these endpoints."""
        http = client.http
        request: Callable[..., Awaitable[Any]] = http.request
        ws_connect: Callable[..., Awaitable[Any]] = http.ws_connect

        async def rewritten_request(route: Route, **kwargs: Any) -> Any:
            route.url = self.rest(route.url)
            return await request(route, **kwargs)

        async def rewritten_ws_connect(url: str, **kwargs: Any) -> Any:
            return await ws_connect(self.gateway(url), **kwargs)

        # instance attributes shadow the methods for this client only
        setattr(http, "request", rewritten_request)  # noqa: B010
        setattr(http, "ws_connect", rewritten_ws_connect)  # noqa: B010

    @contextlib.contextmanager
    def scoped_webhooks(self) -> Iterator[None]:
        """Within this block (and tasks started in it) interaction calls use ``api_base``."""
        if not self.api_base:
            yield
            return
        token = async_context.set(_RewritingWebhookAdapter(self))
        try:
            yield
        finally:
            async_context.reset(token)


class _RewritingWebhookAdapter(AsyncWebhookAdapter):
    def __init__(self, endpoints: Endpoints) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # discord.py leaves it unannotated
        self._endpoints = endpoints

    async def request(self, route: Route, *args: Any, **kwargs: Any) -> Any:
        route.url = self._endpoints.rest(route.url)
        return await super().request(route, *args, **kwargs)
