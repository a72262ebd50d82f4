"""Scenarios over HTTP mode: signed Events API and slash-command requests to ``serve_slack(http=True)``."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.adapters.slack.fake_slack import FakeSlack
from tests.adapters.slack.harness import CHANNEL, USER, Serve, mention


async def post(url: str, body: str, headers: dict[str, str], form: bool = False) -> tuple[int, str, float]:
    kind = "application/x-www-form-urlencoded" if form else "application/json"
    started = time.monotonic()
    async with aiohttp.ClientSession() as session, session.post(
            url, data=body.encode(), headers={**headers, "Content-Type": kind}) as resp:
        return resp.status, await resp.text(), time.monotonic() - started


async def test_a_signed_mention_is_answered_and_its_retry_is_not(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    served = await slack_bot(http=True)
    fake_llm.script({"tasks": []}, "Hello over HTTP.")
    event = mention(fake_slack, "hello")
    body = json.dumps(event)
    status, _, seconds = await post(served.url, body, fake_slack.sign(body))
    assert status == 200 and seconds < 3
    thread_ts = event["event"]["ts"]
    await fake_slack.wait_for(lambda: "Hello over HTTP." in fake_slack.bot_texts(CHANNEL, thread_ts))
    # Slack retries an event it thinks was lost, with the same event_id
    status, _, _ = await post(served.url, body, {**fake_slack.sign(body), "X-Slack-Retry-Num": "1",
                                                 "X-Slack-Retry-Reason": "http_timeout"})
    assert status == 200
    await asyncio.sleep(0.3)
    assert fake_slack.bot_texts(CHANNEL, thread_ts) == ["Hello over HTTP."]
    assert len(fake_llm.planning_requests()) == 1


async def test_a_signed_slash_command_is_acked_and_answered_in_its_thread(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    served = await slack_bot(http=True)
    fake_llm.script({"tasks": []}, "Command answer.")
    body = urlencode(fake_slack.command_payload("tell me a joke", user=USER, channel=CHANNEL))
    status, _, seconds = await post(served.url, body, fake_slack.sign(body), form=True)
    assert status == 200 and seconds < 3
    await fake_slack.wait_for(lambda: fake_slack.messages.get(CHANNEL))
    thread_ts = fake_slack.messages[CHANNEL][0]["ts"]
    await fake_slack.wait_for(lambda: "Command answer." in fake_slack.bot_texts(CHANNEL, thread_ts))


async def test_bad_signatures_and_bad_timestamps_are_refused_with_401(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    served = await slack_bot(http=True)
    body = json.dumps(mention(fake_slack, "hello"))
    good = fake_slack.sign(body)
    stale_ts = str(int(time.time()) - 600)
    cases = {
        "bad signature": {**good, "X-Slack-Signature": "v0=" + "0" * 64},
        "stale timestamp": fake_slack.sign(body, timestamp=stale_ts),  # correctly signed, but a replay
        "non-numeric timestamp": {**good, "X-Slack-Request-Timestamp": "yesterday"},
        "no timestamp": {"X-Slack-Signature": good["X-Slack-Signature"]},
        "no signature": {"X-Slack-Request-Timestamp": good["X-Slack-Request-Timestamp"]},
    }
    for name, headers in cases.items():
        status, _, _ = await post(served.url, body, headers)
        assert status == 401, name
    await asyncio.sleep(0.2)
    assert not fake_slack.calls_to("chat.postMessage") and not fake_llm.requests


async def test_url_verification_echoes_the_challenge(slack_bot: Serve, fake_slack: FakeSlack) -> None:
    served = await slack_bot(http=True)
    body = json.dumps({"token": "legacy", "challenge": "c-123", "type": "url_verification"})
    status, text, _ = await post(served.url, body, fake_slack.sign(body))
    assert status == 200 and "c-123" in text
