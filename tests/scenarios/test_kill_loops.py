"""Kill loops: ``kill -9`` of ``hgbot serve`` at random moments while requests arrive.

At the end every acknowledged message has, in its thread, its answer or the interrupted
notice: 0 lost, 0 answered twice. The bot is the real ``hgbot serve`` in a child process; the
platform and the LLM are the local fakes in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path

import pytest

from orchestrator.jobs import INTERRUPTED_TEXT
from tests.adapters.discord.fake_discord import TOKEN, FakeDiscord
from tests.adapters.slack.fake_slack import FakeSlack
from tests.adapters.slack.harness import CHANNEL, mention
from tests.fakes.llm_server import FakeLLMServer
from tests.scenarios.killloop import KillLoop, echo, serve_env

MESSAGES = 100
USERS = [f"U0USER{i}" for i in range(5)]


def _still_killing(killer: asyncio.Task[None], attempt: int) -> None:
    """Fail instead of hanging: the retry loops below ask again until a message is taken, which never
    happens once the kill loop has died with the bot down, or when the bot cannot start at all."""
    if killer.done() and not killer.cancelled() and killer.exception() is not None:
        raise AssertionError("the kill loop died") from killer.exception()
    assert attempt < 60, "a message was not taken in 60 tries (about 2 minutes): is hgbot serve starting?"


@pytest.mark.slow
async def test_slack_survives_25_kills_with_nothing_lost_or_answered_twice(tmp_path: Path,
                                                                         fake_llm: FakeLLMServer) -> None:
    slack = FakeSlack()
    await slack.start()
    fake_llm.script(*[echo] * (4 * MESSAGES))
    fake_llm.delay = 0.15  # each job takes a few tenths of a second, so kills land on running jobs
    env = serve_env(tmp_path, fake_llm.base_url, SLACK_BOT_TOKEN=slack.token, SLACK_APP_TOKEN=slack.app_token,
                    SLACK_API_URL=slack.api_url)
    seen = [0]

    async def ready() -> None:
        await slack.wait_for(lambda: slack.connections > seen[0], 60, "hgbot serve slack to connect")
        seen[0] = slack.connections

    loop = KillLoop("slack", env, ready, kills=25, log=tmp_path / "serve.log")
    killer = asyncio.create_task(loop.run())
    acked: dict[int, str] = {}  # message number -> its thread
    rng = random.Random(3)
    try:
        for i in range(MESSAGES):
            body = mention(slack, f"msg-{i} please", user=USERS[i % len(USERS)])
            attempt = 0
            while i not in acked:  # Slack redelivers an event until it is acknowledged
                _still_killing(killer, attempt)
                with contextlib.suppress(Exception):
                    envelope = await slack.push("events_api", body, retry_attempt=attempt)
                    await slack.wait_ack(envelope, within=2)
                    acked[i] = body["event"]["ts"]
                attempt += 1
            await asyncio.sleep(rng.uniform(0, 0.5))
        await killer
        assert loop.killed >= 25

        def settled() -> bool:
            return all(_outcome(slack, ts) for ts in acked.values())

        await slack.wait_for(settled, 120, "every thread to have its answer or the notice")
        await asyncio.sleep(1)  # anything answered twice would show now
    finally:
        killer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await killer
        await loop.stop()
        await slack.stop()
    outcomes = {i: _outcome(slack, ts) for i, ts in acked.items()}
    answers = {i: [t for t in slack.bot_texts(CHANNEL, ts) if t == f"echo msg-{i}"] for i, ts in acked.items()}
    assert len(acked) == MESSAGES
    assert all(outcomes.values()), [i for i, o in outcomes.items() if not o]  # 0 lost
    assert all(len(a) <= 1 for a in answers.values()), {i: a for i, a in answers.items() if len(a) > 1}
    wrong = [i for i, ts in acked.items() for t in slack.bot_texts(CHANNEL, ts) if t.startswith("echo ")
             and t != f"echo msg-{i}"]
    assert not wrong  # every answer is in its own thread
    print(f"\nslack kill loop: {loop.killed} kills, {sum(1 for a in answers.values() if a)} answered, "
          f"{sum(1 for o in outcomes.values() if o == 'interrupted')} interrupted notices")


def _outcome(slack: FakeSlack, thread_ts: str) -> str:
    texts = slack.bot_texts(CHANNEL, thread_ts)
    if any(t.startswith("echo msg-") for t in texts):
        return "answered"
    if INTERRUPTED_TEXT in texts:
        return "interrupted"
    return ""





@pytest.mark.slow
async def test_discord_survives_10_kills_with_nothing_lost_or_answered_twice(tmp_path: Path,
                                                                           fake_llm: FakeLLMServer) -> None:
    discord = FakeDiscord()
    await discord.start()
    fake_llm.script(*[echo] * (4 * MESSAGES))
    fake_llm.delay = 0.15
    env = serve_env(tmp_path, fake_llm.base_url, DISCORD_TOKEN=TOKEN, DISCORD_API_BASE=discord.api_base,
                    DISCORD_GATEWAY_URL=discord.gateway_url)
    seen = [0]

    async def ready() -> None:
        await discord.wait_for(lambda: len(discord.connections) > seen[0] and discord.connections[-1].identify, 60)
        seen[0] = len(discord.connections)

    loop = KillLoop("discord", env, ready, kills=10, alive=(0.5, 3.0), log=tmp_path / "serve.log")
    killer = asyncio.create_task(loop.run())
    acked: dict[int, int] = {}  # thread (= the message's id) -> message number
    rng = random.Random(4)
    try:
        for i in range(MESSAGES):
            attempt = 0
            while i not in acked.values():  # not taken (the bot was down or died first): the person asks again
                _still_killing(killer, attempt)
                attempt += 1
                # a send to a gateway closing under a kill raises: that message was not taken either
                with contextlib.suppress(Exception):
                    mid = int((await discord.say(f"msg-{i} please", mention=True))["id"])
                    # taken = the typing indicator in its thread, sent once the job is written
                    await discord.wait_for(lambda mid=mid: discord.requests("POST", rf"/channels/{mid}/typing$"), 3)  # type: ignore[misc]
                    acked[mid] = i
            await asyncio.sleep(rng.uniform(0, 0.3))
        await killer
        assert loop.killed >= 10
        await discord.wait_for(lambda: all(_discord_outcome(discord, mid) for mid in acked), 120)
        await asyncio.sleep(1)
    finally:
        killer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await killer
        await loop.stop()
        await discord.stop()
    answers = {mid: [m for m in discord.bot_messages(mid) if m["content"] == f"echo msg-{i}"] for mid, i in acked.items()}
    assert len(set(acked.values())) == MESSAGES
    assert all(_discord_outcome(discord, mid) for mid in acked)  # 0 lost
    assert all(len(a) <= 1 for a in answers.values())  # 0 answered twice
    wrong = [mid for mid, i in acked.items() for m in discord.bot_messages(mid)
             if m["content"].startswith("echo ") and m["content"] != f"echo msg-{i}"]
    assert not wrong
    print(f"\ndiscord kill loop: {loop.killed} kills, {sum(1 for a in answers.values() if a)} answered, "
          f"{sum(1 for mid in acked if _discord_outcome(discord, mid) == 'interrupted')} interrupted notices")


def _discord_outcome(discord: FakeDiscord, thread_id: int) -> str:
    texts = [m["content"] for m in discord.bot_messages(thread_id)]
    if any(t.startswith("echo msg-") for t in texts):
        return "answered"
    if INTERRUPTED_TEXT in texts:
        return "interrupted"
    return ""
