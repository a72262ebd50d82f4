"""The Slack adapter driven through the chat-service port alone: a fake service, no App, no store."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from types import SimpleNamespace

from adapters.slack import serve_slack
from bot.config import Settings
from orchestrator.jobtypes import JobState
from orchestrator.types import Reply
from tests.adapters.slack.fake_slack import FakeSlack
from tests.adapters.slack.harness import CHANNEL, mention
from tests.fakes.chat_service import FakeChatService


async def test_a_mention_becomes_one_job_answered_in_its_thread(fake_slack: FakeSlack, tmp_path: Path) -> None:
    service = FakeChatService(answer=lambda request: Reply(text=f"you said {request.text!r}"))
    host = SimpleNamespace(service=service, settings=Settings(
        home=tmp_path, slack_bot_token=fake_slack.token, slack_app_token=fake_slack.app_token,
        slack_api_url=fake_slack.api_url))
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve_slack(host, on_ready=ready.set_result))
    try:
        await asyncio.wait_for(asyncio.shield(ready), 10)
        body = mention(fake_slack, "hello there")
        await fake_slack.wait_ack(await fake_slack.push("events_api", body))
        thread_ts = body["event"]["ts"]
        await fake_slack.wait_for(lambda: "you said 'hello there'" in fake_slack.bot_texts(CHANNEL, thread_ts),
                                  what="the answer")
        [request] = service.requests
        assert request.conversation.channel == CHANNEL and request.conversation.thread == thread_ts
        assert service.fake_jobs is not None
        [job] = service.fake_jobs.records.values()
        assert job.state is JobState.DONE
        # the same event again (Slack retries what it thinks we missed): claimed with the job, not answered twice
        await fake_slack.wait_ack(await fake_slack.push("events_api", body))
        await asyncio.sleep(0.2)
        assert len(service.requests) == 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
