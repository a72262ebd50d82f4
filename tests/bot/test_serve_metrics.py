"""``hgbot serve`` observability: Prometheus metrics on 127.0.0.1 and job events with their job id."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.logs import JsonFormatter
from bot.serve import serve
from orchestrator.backends import BackendRegistry
from tests.adapters.slack.fake_slack import FakeSlack
from tests.adapters.slack.harness import CHANNEL, mention
from tests.fakes.backends import FakeBackend
from tests.fakes.llm_server import FakeLLMServer

CARD = {"id": "fake-sentiment", "task": "text-classification", "backend": "fake", "size": 1, "options": {}}


@pytest.fixture
def fake_backend(backend_registry: BackendRegistry) -> Iterator[FakeBackend]:
    backend = FakeBackend()
    backend_registry.register("fake", backend)
    yield backend


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:  # noqa: S310 - local
        return str(resp.read().decode())


async def test_serve_exposes_metrics_and_logs_each_job_event_with_its_id(
        tmp_path: Path, fake_llm: FakeLLMServer, fake_backend: FakeBackend, caplog: pytest.LogCaptureFixture) -> None:
    slack = FakeSlack()
    await slack.start()
    port = free_port()
    (tmp_path / "catalog.jsonl").write_text(json.dumps(CARD) + "\n")
    settings = Settings(home=tmp_path, llm_base_url=fake_llm.base_url, llm_api_key="k", llm_model="fake",
                        llm_max_retries=0, device="cpu", fast_path=False, catalog=str(tmp_path / "catalog.jsonl"),
                        slack_bot_token=slack.token, slack_app_token=slack.app_token, slack_api_url=slack.api_url,
                        metrics_port=port)
    # one text result is the answer: one LLM call (the plan)
    fake_llm.script({"tasks": [{"id": 1, "task": "text-classification", "deps": [], "args": {"text": "great"}}]})
    caplog.set_level(logging.INFO, logger="hgbot.jobs")
    task = asyncio.create_task(serve(argparse.Namespace(platform="slack", http=False, port=0, host="127.0.0.1",
                                                        invite_url=False), settings))
    try:
        body = mention(slack, "is 'great' positive?")
        await slack.wait_ack(await slack.push("events_api", body), within=10)
        await slack.wait_for(lambda: any("text-classification by fake-sentiment" in t
                                         for t in slack.bot_texts(CHANNEL, body["event"]["ts"])), 20)
        await slack.wait_for(lambda: 'hgbot_jobs_total{state="done"} 1.0' in scrape(port), 5, "the done job")
        text = await asyncio.to_thread(scrape, port)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await slack.stop()
    assert 'hgbot_jobs_total{state="queued"} 1.0' in text and 'hgbot_jobs_total{state="running"} 1.0' in text
    assert "hgbot_queue_depth 0.0" in text and "hgbot_jobs_running 0.0" in text
    assert 'hgbot_step_seconds_count{model="fake-sentiment",task="text-classification"} 1.0' in text
    assert 'hgbot_model_loads_total' in text and "hgbot_llm_calls_total 1.0" in text
    events = [(r.event, r.job_id) for r in caplog.records if r.name == "hgbot.jobs"]  # type: ignore[attr-defined]
    assert [e for e, _ in events] == ["queued", "running", "step", "done"]
    assert len({j for _, j in events}) == 1  # one job id through every stage
    line = json.loads(JsonFormatter().format(next(r for r in caplog.records if r.name == "hgbot.jobs")))
    assert line["job_id"] == events[0][1] and line["event"] == "queued" and line["platform"] == "slack"
