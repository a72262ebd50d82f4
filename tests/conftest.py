"""Shared fixtures: offline hub settings, a scripted LLM server, and a real App on a temp home."""

from __future__ import annotations

import json
import os

# Before anything imports transformers: a hub lookup must fail at once, never hang ~50 s.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
for _var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "HGBOT_CATALOG", "HGBOT_CONFIG", "SLACK_BOT_TOKEN",
             "SLACK_APP_TOKEN", "DISCORD_TOKEN"):
    os.environ.pop(_var, None)

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from orchestrator.backends import BackendRegistry, installed  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer  # noqa: E402

MakeApp = Callable[..., Awaitable[Any]]


@pytest.fixture
def backend_registry() -> Iterator[BackendRegistry]:
    """A fresh registry (built-ins + plugins), the default while the test runs: ``register`` fakes
    on it and they are gone after the test."""
    with installed(BackendRegistry.default()) as registry:
        yield registry


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLMServer]:
    server = FakeLLMServer()
    await server.start()
    yield server
    await server.stop()


def write_catalog(lines: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
async def make_app(tmp_path: Path, fake_llm: FakeLLMServer) -> AsyncIterator[MakeApp]:
    """``await make_app(catalog=[...], **settings)`` → a real ``bot.app.App`` against ``fake_llm``."""
    from bot.app import build_app
    from bot.config import Settings

    apps: list[Any] = []

    async def factory(catalog: list[dict[str, Any]] | None = None, **overrides: Any) -> Any:
        home = overrides.pop("home", tmp_path / f"home{len(apps)}")
        values: dict[str, Any] = {
            "home": home, "llm_base_url": fake_llm.base_url, "llm_api_key": "test-key", "llm_model": "fake-model",
            "llm_max_retries": 0, "device": "cpu", "memory_budget_mb": 512, "fast_path": False,
        }
        if catalog is not None:
            home.mkdir(parents=True, exist_ok=True)
            values["catalog"] = str(write_catalog(catalog, home / "catalog.jsonl"))
        values.update(overrides)
        app = await build_app(Settings(**values))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        await app.close()
