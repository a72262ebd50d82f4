"""``hgbot serve all``: Slack and Discord answered by one process on one orchestrator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
from pathlib import Path

from bot.config import Settings
from bot.serve import serve
from tests.adapters.discord.fake_discord import TOKEN, FakeDiscord
from tests.adapters.slack.fake_slack import FakeSlack
from tests.adapters.slack.harness import CHANNEL, mention
from tests.fakes.llm_server import FakeLLMServer


async def test_one_process_answers_slack_and_discord(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    slack, discord = FakeSlack(), FakeDiscord()
    await slack.start()
    await discord.start()
    settings = Settings(home=tmp_path, llm_base_url=fake_llm.base_url, llm_api_key="k", llm_model="fake-model",
                        llm_max_retries=0, device="cpu", fast_path=False, catalog="offline",
                        slack_bot_token=slack.token, slack_app_token=slack.app_token, slack_api_url=slack.api_url,
                        discord_token=TOKEN, discord_api_base=discord.api_base, discord_gateway_url=discord.gateway_url)
    args = argparse.Namespace(platform="all", http=False, port=0, host="127.0.0.1", invite_url=False)
    task = asyncio.create_task(serve(args, settings))
    try:
        def chat(req: dict[str, object]) -> object:
            return {"tasks": []} if req.get("response_format") else "hello from hgbot"

        fake_llm.script(*[chat] * 4)
        body = mention(slack, "hi")
        await slack.push("events_api", body)
        await discord.wait_for(lambda: discord.requests("PUT", r"/commands$"))  # connected and synced
        await discord.say("hi", mention=True)
        await slack.wait_for(lambda: "hello from hgbot" in slack.bot_texts(CHANNEL, body["event"]["ts"]), 20)
        await discord.wait_for(lambda: any("hello from hgbot" in m["content"] for m in discord.bot_messages()), 20)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await slack.stop()
        await discord.stop()
    with sqlite3.connect(tmp_path / "hgbot.sqlite3") as db:  # one store behind both platforms
        platforms = {row[0] for row in db.execute("SELECT platform FROM conversations")}
    assert platforms == {"slack", "discord"}
