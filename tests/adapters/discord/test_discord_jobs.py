"""Discord jobs: the Cancel button (requester or admin only), the interrupted notice and its Retry button."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.backends import BackendRegistry
from orchestrator.jobs import INTERRUPTED_TEXT
from orchestrator.types import ConversationKey
from storage import SqliteStore
from tests.adapters.discord.fake_discord import CHANNEL_ID, GUILD_ID, FakeDiscord
from tests.adapters.slack.test_slack_jobs import SLOW, llm
from tests.fakes.backends import FakeBackend
from tests.fakes.llm_server import FakeLLMServer


@pytest.fixture
def fake_backend(backend_registry: BackendRegistry) -> Iterator[FakeBackend]:
    backend = FakeBackend()
    backend_registry.register("fake", backend)
    yield backend


def states(home: Path) -> list[str]:
    with sqlite3.connect(home / "hgbot.sqlite3") as db:
        return [r[0] for r in db.execute("SELECT state FROM jobs ORDER BY id")]


async def test_the_cancel_button_stops_the_job_for_the_requester_only(
        fake_discord: FakeDiscord, discord_bot: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend) -> None:
    client = await discord_bot(catalog=SLOW)
    fake_llm.script(*[llm] * 10)
    msg = await fake_discord.say("draw a slow cat then caption it", mention=True)
    tid = int(msg["id"])  # the thread hangs on the message
    await fake_discord.wait_for(lambda: fake_backend.loads)
    progress = (await fake_discord.wait_for(lambda: [m for m in fake_discord.bot_messages(tid)
                                                     if fake_discord.buttons(int(m["id"]))]))[0]
    cancel_id = fake_discord.buttons(int(progress["id"]))["Cancel"]

    await fake_discord.press(int(progress["id"]), cancel_id, user=fake_discord.other_user)
    refusal = await fake_discord.wait_for(lambda: [c for c in fake_discord.interaction_callbacks if c["type"] == 4])
    assert "Only the person who asked" in refusal[0]["data"]["content"] and refusal[0]["data"]["flags"] == 64

    await fake_discord.press(int(progress["id"]), cancel_id)
    said = await fake_discord.wait_for(lambda: [m for m in fake_discord.bot_messages(tid)
                                                if m["content"].startswith("🛑 Cancelled after")])
    assert "(done: nothing)" in said[0]["content"]
    await fake_discord.wait_for(lambda: states(client.app.settings.home) == ["cancelled"])
    assert fake_discord.buttons(int(progress["id"])) == {}  # the button is gone
    assert fake_backend.loads == ["slow-draw"]  # the pending caption step never started


async def test_an_interrupted_job_gets_a_notice_at_start_up_and_retry_runs_it_once(
        fake_discord: FakeDiscord, discord_bot: Any, fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    home = tmp_path / "dhome"
    tid = await fake_discord.user_thread("an old thread")
    store = await SqliteStore.open(home / "hgbot.sqlite3", home / "artifacts")
    await store.register_owner("elsewhere:1:gone", "elsewhere", 1)
    key = ConversationKey("discord", str(GUILD_ID), str(CHANNEL_ID), str(tid))
    job = await store.add_job(key, user=str(fake_discord.user["id"]), text="say hi", payload={},
                              owner="elsewhere:1:gone")
    await store.start_job(job, "elsewhere:1:gone")
    await store.close()
    with sqlite3.connect(home / "hgbot.sqlite3") as db:
        db.execute("UPDATE job_owners SET heartbeat = 0")

    await discord_bot(home=home)
    notice = (await fake_discord.wait_for(lambda: [m for m in fake_discord.bot_messages(tid)
                                                   if m["content"] == INTERRUPTED_TEXT]))[0]
    retry_id = fake_discord.buttons(int(notice["id"]))["Retry"]
    assert retry_id == f"hgbot:retry:{job}"
    fake_llm.script({"tasks": []}, "hi again")
    for _ in range(2):  # a double click runs it once
        await fake_discord.press(int(notice["id"]), retry_id)
    await fake_discord.wait_for(lambda: any(m["content"] == "hi again" for m in fake_discord.bot_messages(tid)))
    await fake_discord.wait_for(lambda: states(home) == ["interrupted", "done"])


async def test_slash_cancel_cancels_the_callers_running_job(
        fake_discord: FakeDiscord, discord_bot: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend) -> None:
    client = await discord_bot(catalog=SLOW)
    fake_llm.script(*[llm] * 10)
    msg = await fake_discord.say("draw a slow cat then caption it", mention=True)
    await fake_discord.wait_for(lambda: fake_backend.loads)
    interaction = await fake_discord.slash("cancel")
    await fake_discord.wait_for(lambda: any(m["content"] == "Cancelling your request." for m in fake_discord.messages.values()
                                            if m.get("type") == 20))
    await fake_discord.wait_for(lambda: any(m["content"].startswith("🛑 Cancelled after")
                                            for m in fake_discord.bot_messages(int(msg["id"]))))
    await fake_discord.wait_for(lambda: states(client.app.settings.home) == ["cancelled"])
    assert interaction["token"]
    again = await fake_discord.slash("cancel")
    await fake_discord.wait_for(lambda: fake_discord.messages.get(
        int(fake_discord._interactions[again["token"]].get("_original") or 0), {}).get("content", "").startswith(
        "You have no request running"))


async def test_the_place_in_line_is_shown_and_updated_as_the_line_moves(
        fake_discord: FakeDiscord, discord_bot: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend) -> None:
    client = await discord_bot(catalog=SLOW, max_jobs=1)
    fake_llm.script(*[llm] * 10)
    await fake_discord.say("draw a slow cat then caption it", mention=True)
    await fake_discord.wait_for(lambda: fake_backend.loads)
    second = await fake_discord.say("hello there", mention=True, author=fake_discord.other_user)
    tid = int(second["id"])
    waiting = (await fake_discord.wait_for(lambda: [m for m in fake_discord.bot_messages(tid)
                                                    if m["content"].startswith("⏳")], 5))[0]
    assert waiting["content"] == "⏳ next in line" and fake_discord.buttons(int(waiting["id"]))  # cancellable
    await fake_discord.wait_for(lambda: any(m["content"] == "all done" for m in fake_discord.bot_messages(tid)), 10)
    assert fake_discord.messages[int(waiting["id"])]["content"] == "✅ Done."  # the same message moved on
    await fake_discord.wait_for(lambda: states(client.app.settings.home) == ["done", "done"])
