"""``hgbot serve`` from the operator's side: refused tokens, ``all``, and network outages."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.config import Settings
from bot.serve import serve
from tests.adapters.discord.fake_discord import TOKEN, FakeDiscord
from tests.adapters.slack.fake_slack import FakeSlack


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """Environment for the real CLI, and the root handlers' filters put back afterwards (``main``
    adds its log redaction to whatever handlers the process has, pytest's included)."""
    monkeypatch.setenv("HGBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HGBOT_CATALOG", "offline")
    monkeypatch.setenv("HGBOT_LOCAL_LLM", "none")
    for var in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DISCORD_TOKEN", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    saved = {h: list(h.filters) for h in logging.getLogger().handlers}
    yield monkeypatch
    for handler, filters in saved.items():
        handler.filters[:] = filters


async def hgbot(*argv: str) -> int:
    """The real CLI entry point, in a thread (it runs its own event loop) while the fakes serve here."""
    return await asyncio.wait_for(asyncio.to_thread(main, list(argv)), 60)


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("wrong", ["bot", "app"])
async def test_a_refused_slack_token_is_one_line_and_exit_2(
        env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], wrong: str) -> None:
    slack = FakeSlack()
    await slack.start()
    try:
        env.setenv("SLACK_API_URL", slack.api_url)
        env.setenv("SLACK_BOT_TOKEN", "xoxb-wrong" if wrong == "bot" else slack.token)
        env.setenv("SLACK_APP_TOKEN", "xapp-wrong" if wrong == "app" else slack.app_token)
        assert await hgbot("serve", "slack") == 2
    finally:
        await slack.stop()
    line = one_line(capsys.readouterr().err)
    assert "invalid_auth" in line and ("SLACK_BOT_TOKEN" if wrong == "bot" else "SLACK_APP_TOKEN") in line
    assert "xoxb-wrong" not in line and "xapp-wrong" not in line


async def test_a_refused_discord_token_is_one_line_and_exit_2(
        env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    discord = FakeDiscord()
    await discord.start()
    try:
        env.setenv("DISCORD_TOKEN", TOKEN[:-3] + "bad")
        env.setenv("DISCORD_API_BASE", discord.api_base)
        env.setenv("DISCORD_GATEWAY_URL", discord.gateway_url)
        assert await hgbot("serve", "discord") == 2
    finally:
        await discord.stop()
    assert "Discord rejected DISCORD_TOKEN" in one_line(capsys.readouterr().err)


async def test_serve_all_with_nothing_configured_is_one_line(
        env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert await hgbot("serve", "all") == 2
    assert "No chat platform is configured" in one_line(capsys.readouterr().err)


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(home=tmp_path / "home", catalog="offline", local_llm="none", device="cpu", **values)


def args(platform: str) -> argparse.Namespace:
    return argparse.Namespace(platform=platform, http=False, port=0, host="127.0.0.1", invite_url=False)


async def _stop(task: asyncio.Task[object]) -> None:
    """Cancel ``serve`` as Ctrl-C does and fail, not hang, when it does not shut down in time."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=60)
    assert done, "hgbot serve did not shut down within 60 s of being cancelled"
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_serve_all_serves_what_is_configured_and_names_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    discord = FakeDiscord()
    await discord.start()
    task = asyncio.create_task(serve(args("all"), settings(tmp_path, discord_token=TOKEN,
                                                            discord_api_base=discord.api_base,
                                                            discord_gateway_url=discord.gateway_url)))
    try:
        await discord.wait_for(lambda: discord.requests("PUT", r"/commands$") or task.done())
        assert not task.done(), task.result()
    finally:
        await _stop(task)
        await discord.stop()
    err = capsys.readouterr().err
    assert "serving: discord" in err and "slack" not in err.lower()


async def test_an_unreachable_platform_is_named_and_retried_with_backoff(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()
    s = settings(tmp_path, discord_token=TOKEN, discord_api_base=f"http://127.0.0.1:{port}/api/v10",
                 discord_gateway_url=f"ws://127.0.0.1:{port}/gateway")
    task = asyncio.create_task(serve(args("discord"), s, backoff=(0.05, 0.1)))
    try:
        seen = ""
        for _ in range(200):  # a few attempts, with the capped wait
            await asyncio.sleep(0.05)
            seen += capsys.readouterr().err
            if seen.count("Cannot reach Discord") >= 3:
                break
    finally:
        await _stop(task)
    attempts = [ln for ln in seen.splitlines() if "Cannot reach Discord" in ln]
    assert len(attempts) >= 3, seen
    assert f"127.0.0.1:{port}" in attempts[0] and "please report" not in seen
    assert "Retrying in 0.1 s" in attempts[-1]  # doubled from 0.05, then held at the cap


async def test_a_port_in_use_is_one_line_and_exit_2(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    slack = FakeSlack()
    await slack.start()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        env.setenv("SLACK_API_URL", slack.api_url)
        env.setenv("SLACK_BOT_TOKEN", slack.token)
        env.setenv("SLACK_SIGNING_SECRET", slack.signing_secret)
        port = str(taken.getsockname()[1])
        assert await hgbot("serve", "slack", "--http", "--host", "127.0.0.1", "--port", port) == 2
    finally:
        taken.close()
        await slack.stop()
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"Cannot listen on 127.0.0.1:{port}" in err.strip().splitlines()[-1]
