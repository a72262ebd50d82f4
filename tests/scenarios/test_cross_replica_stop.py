"""Two `hgbot serve slack` replicas on one store (one SQLite file, or one Postgres database): a stop
that Slack hands to the replica *not* running the job cancels it on the replica that runs it, and
the thread is told once.

Socket Mode gives each event to one of the app's connections, so the `stop` reply (or Slack's stop
button) can reach either replica. Here replica A takes the request; B connects later, so the fake
Slack hands B every later event, the stop included.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import orchestrator.jobs
from orchestrator.types import ConversationKey
from tests.adapters.slack.conftest import fake_slack, slack_bot  # noqa: F401  (fixtures)
from tests.adapters.slack.fake_slack import FakeSlack
from tests.adapters.slack.harness import CHANNEL, USER, Serve, mention
from tests.adapters.slack.test_slack_jobs import fake_backend, llm  # noqa: F401  (the fixture and the plans)
from tests.fakes.backends import FakeBackend
from tests.storage.conftest import postgres_db, postgres_url  # noqa: F401  (fixtures)

SLOW = [{"id": "slow-draw", "task": "text-to-image", "backend": "fake", "size": 1, "options": {"sleep": 3}},
        {"id": "caption", "task": "image-to-text", "backend": "fake", "size": 1, "options": {}}]


@pytest.fixture
def two_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each replica's job layer on its own host name: in one process the same-host pid check would
    take the other replica for a dead one (it shares our pid) and interrupt its job."""
    names = (f"replica-{i}" for i in itertools.count())
    monkeypatch.setattr(orchestrator.jobs, "socket", SimpleNamespace(gethostname=lambda: next(names)))


@pytest.fixture(params=["sqlite", "postgres"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Settings both replicas share: one home (its SQLite file and artifacts), plus a Postgres database."""
    settings: dict[str, Any] = {"home": tmp_path / "shared-home"}
    if request.param == "postgres":
        settings["database_url"] = request.getfixturevalue("postgres_db")
    return settings


async def states(app: Any) -> list[str]:
    counts = await app.store.job_counts()
    return sorted(state for state, n in counts.items() for _ in range(n))


async def start_slow_job_on_a_then_serve_b(slack_bot: Serve, fake_slack: FakeSlack,  # noqa: F811
                                           fake_llm: Any, fake_backend: FakeBackend,  # noqa: F811
                                           settings: dict[str, Any], channel: str,
                                           thread_of: Any) -> tuple[Any, Any, str]:
    fake_llm.script(*[llm] * 10)
    a = await slack_bot(catalog=SLOW, **settings)
    thread = await thread_of()
    await fake_slack.wait_for(lambda: fake_backend.loads, what="step 1 running on replica A")
    b = await slack_bot(catalog=SLOW, **settings)  # from now on the fake Slack hands events to B
    assert fake_slack.connections == 2
    where = key(fake_slack, channel, thread)
    assert a.app.jobs.live_in(where) is not None and b.app.jobs.live_in(where) is None  # A runs it, B does not
    return a, b, thread


def key(fake: FakeSlack, channel: str, thread: str) -> ConversationKey:
    return ConversationKey("slack", fake.team, channel, thread)


def cancelled_texts(fake: FakeSlack, channel: str, thread: str) -> list[str]:
    return [t for t in fake.bot_texts(channel, thread) if "Cancelled after" in t]


async def test_a_stop_reply_reaching_the_other_replica_cancels_the_job_where_it_runs(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any, fake_backend: FakeBackend,  # noqa: F811
        two_hosts: None, shared_store: dict[str, Any]) -> None:
    async def thread_of() -> str:
        body = mention(fake_slack, "draw a slow cat then caption it")
        await fake_slack.wait_ack(await fake_slack.push("events_api", body))
        return str(body["event"]["ts"])

    a, b, thread = await start_slow_job_on_a_then_serve_b(slack_bot, fake_slack, fake_llm, fake_backend,
                                                          shared_store, CHANNEL, thread_of)
    stop = fake_slack.user_message(CHANNEL, USER, "stop", thread_ts=thread)
    t0 = time.monotonic()
    await fake_slack.wait_ack(await fake_slack.push("events_api", fake_slack.event_body(stop)))
    await fake_slack.wait_for(lambda: cancelled_texts(fake_slack, CHANNEL, thread), 5, "the cancelled message")
    took = time.monotonic() - t0
    assert took < 2.5, f"the stop took {took:.1f} s to cancel the job on the other replica"
    await fake_slack.wait_for(lambda: a.app.jobs.live_in(key(fake_slack, CHANNEL, thread)) is None, 5,
                              "replica A's job to end")
    assert await states(b.app) == ["cancelled"]  # one job: B took `stop` for a stop, not for a request
    assert fake_backend.loads == ["slow-draw"]  # the pending caption step never started
    await asyncio.sleep(1)  # two more polls of A: the request on the ended row is not acted on again
    assert len(cancelled_texts(fake_slack, CHANNEL, thread)) == 1
    assert not fake_slack.calls_to("chat.postEphemeral")  # nobody was refused


async def test_slacks_stop_button_reaching_the_other_replica_cancels_the_job_where_it_runs(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any, fake_backend: FakeBackend,  # noqa: F811
        two_hosts: None, tmp_path: Path) -> None:
    async def thread_of() -> str:
        dm = fake_slack.user_message("D0ALICE", USER, "draw a slow cat then caption it", channel_type="im")
        await fake_slack.wait_ack(await fake_slack.push("events_api", fake_slack.event_body(dm)))
        return str(dm["ts"])

    a, b, thread = await start_slow_job_on_a_then_serve_b(slack_bot, fake_slack, fake_llm, fake_backend,
                                                          {"home": tmp_path / "shared-home"}, "D0ALICE", thread_of)
    stop = fake_slack.event_body({"type": "agent_session_stopped", "channel": "D0ALICE", "thread_ts": thread,
                                  "user": USER, "event_ts": f"{time.time():.6f}", "streaming_message_ts": []})
    await fake_slack.wait_ack(await fake_slack.push("events_api", stop))
    await fake_slack.wait_for(lambda: cancelled_texts(fake_slack, "D0ALICE", thread), 5, "the cancelled message")
    await fake_slack.wait_for(lambda: a.app.jobs.live_in(key(fake_slack, "D0ALICE", thread)) is None, 5,
                              "replica A's job to end")
    assert await states(b.app) == ["cancelled"]
    assert len(cancelled_texts(fake_slack, "D0ALICE", thread)) == 1
