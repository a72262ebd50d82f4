"""Fixtures: a fake Discord on 127.0.0.1 and a real hgbot App with the real discord.py client on it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from adapters.discord import HgbotClient, build_discord_client
from tests.adapters.discord.fake_discord import TOKEN, FakeDiscord

IMAGE_EDIT = {"id": "hgbot/image-edit", "task": "image-to-image", "backend": "python", "size": 0,
              "description": "Pillow edits"}

Connect = Callable[..., Awaitable[HgbotClient]]


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def discord_bot(fake_discord: FakeDiscord, make_app: Any) -> AsyncIterator[Connect]:
    """``client = await discord_bot(**settings)``: a real App, and a client connected (READY) to the fake."""
    running: list[tuple[HgbotClient, asyncio.Task[None]]] = []

    async def connect(catalog: list[dict[str, Any]] | None = None, **settings: Any) -> HgbotClient:
        app = await make_app(catalog=catalog if catalog is not None else [IMAGE_EDIT],
                             discord_token=TOKEN, discord_api_base=fake_discord.api_base,
                             discord_gateway_url=fake_discord.gateway_url, **settings)
        return await _start(app, fake_discord, running)

    yield connect
    await _shut(running)


async def _start(app: Any, fake_discord: FakeDiscord, running: list[tuple[HgbotClient, asyncio.Task[None]]]) -> HgbotClient:
    """Build the client and connect it to the fake until READY."""
    # short waits: the fake sends every guild at once, and tests watch edits in fractions of a second
    client = build_discord_client(app, guild_ready_timeout=0.05, progress_interval=0.2)
    task = asyncio.create_task(client.start(TOKEN))
    running.append((client, task))
    await fake_discord.wait_for(lambda: client.is_ready() or task.done(), within=10)
    if task.done():
        task.result()
    return client


async def _shut(running: list[tuple[HgbotClient, asyncio.Task[None]]]) -> None:
    """Close every client; a client that died during the test fails it (discord.py would hide that)."""
    crashed = [t for _, t in running if t.done() and not t.cancelled() and t.exception() is not None]
    for client, task in running:
        await client.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if crashed:
        raise crashed[0].exception()  # type: ignore[misc]


class _Ledger:
    """The store's delivery ledger, in memory; it knows no earlier conversations."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def find_conversation(self, key: object) -> int | None:
        return None

    async def claim_delivery(self, delivery_id: str) -> bool:
        if delivery_id in self.seen:
            return False
        self.seen.add(delivery_id)
        return True

    async def read_artifact(self, artifact: Any) -> bytes:
        return bytes(artifact.path.read_bytes())  # these tests' files live in tmp_path


class ScriptedOrchestrator:
    """Stands in for the orchestrator where a test is about Discord only: ``handler(request, progress)``."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.handler: Callable[..., Awaitable[Any]] | None = None

    async def handle(self, request: Any, progress: Any = None) -> Any:
        from orchestrator.types import Reply

        self.requests.append(request)
        if self.handler is None:
            return Reply(text="ok")
        return await self.handler(request, progress)


@pytest.fixture
async def standin_bot(fake_discord: FakeDiscord, tmp_path: Any) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """``client, orchestrator = await standin_bot(**settings)``: the client on a scripted orchestrator."""
    from types import SimpleNamespace

    from bot.config import Settings

    running: list[tuple[HgbotClient, asyncio.Task[None]]] = []

    async def connect(**settings: Any) -> tuple[HgbotClient, ScriptedOrchestrator]:
        orchestrator = ScriptedOrchestrator()
        app = SimpleNamespace(
            settings=Settings(home=tmp_path, discord_token=TOKEN, discord_api_base=fake_discord.api_base,
                              discord_gateway_url=fake_discord.gateway_url, **settings),
            store=_Ledger(), orchestrator=orchestrator)
        return await _start(app, fake_discord, running), orchestrator

    yield connect
    await _shut(running)
