"""Slack jobs: the Cancel button and ``/hgbot cancel``, the place in line, interrupted notices and Retry."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.backends import BackendRegistry
from orchestrator.jobs import INTERRUPTED_TEXT
from orchestrator.types import ConversationKey
from storage import SqliteStore
from tests.adapters.slack.fake_slack import FakeSlack
from tests.adapters.slack.harness import CHANNEL, USER, Serve, mention
from tests.fakes.backends import FakeBackend

SLOW = [{"id": "slow-draw", "task": "text-to-image", "backend": "fake", "size": 1, "options": {"sleep": 1.5}},
        {"id": "caption", "task": "image-to-text", "backend": "fake", "size": 1, "options": {}}]
BOB = "U0BOB"


@pytest.fixture
def fake_backend(backend_registry: BackendRegistry) -> Iterator[FakeBackend]:
    backend = FakeBackend()
    backend_registry.register("fake", backend)
    yield backend


def llm(body: dict[str, Any]) -> Any:
    """Plans 'draw → caption' for requests saying "slow", chat otherwise; answers 'all done'."""
    if not body.get("response_format"):
        return "all done"
    if "slow" in json.dumps(body["messages"][-1]):
        return {"tasks": [{"id": 1, "task": "text-to-image", "deps": [], "args": {"text": "a cat"}},
                          {"id": 2, "task": "image-to-text", "deps": [1], "args": {"image": "<GENERATED>-1"}}]}
    return {"tasks": []}


def job_states(home: Path) -> list[str]:
    with sqlite3.connect(home / "hgbot.sqlite3") as db:
        return [r[0] for r in db.execute("SELECT state FROM jobs ORDER BY id")]


async def test_the_cancel_button_stops_the_job_and_only_the_requester_may_press_it(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any, fake_backend: FakeBackend) -> None:
    served = await slack_bot(catalog=SLOW)
    fake_llm.script(*[llm] * 10)
    body = mention(fake_slack, "draw a slow cat then caption it")
    thread = body["event"]["ts"]
    await fake_slack.wait_ack(await fake_slack.push("events_api", body))
    status = (await fake_slack.wait_for(lambda: [m for m in fake_slack.thread(CHANNEL, thread)
                                                 if m.get("user") == fake_slack.bot_user], what="the status"))[0]
    job_id = fake_slack.buttons(CHANNEL, status["ts"])["hgbot_cancel"]
    await fake_slack.wait_for(lambda: fake_backend.loads, what="step 1 running")

    await fake_slack.push("interactive", fake_slack.block_action(CHANNEL, status["ts"], "hgbot_cancel", job_id,
                                                                 user=BOB, thread_ts=thread))
    await fake_slack.wait_for(lambda: fake_slack.calls_to("chat.postEphemeral"), what="the refusal")
    assert "Only the person who asked" in fake_slack.calls_to("chat.postEphemeral")[-1].args["text"]

    await fake_slack.push("interactive", fake_slack.block_action(CHANNEL, status["ts"], "hgbot_cancel", job_id,
                                                                 user=USER, thread_ts=thread))
    await fake_slack.wait_for(lambda: "Cancelled after" in status["text"], 5, "the cancelled status")
    assert status["text"].startswith("🛑 Cancelled after 1 s (done: nothing)") or "(done: nothing)" in status["text"]
    assert fake_slack.buttons(CHANNEL, status["ts"]) == {}  # the button is gone
    await fake_slack.wait_for(lambda: job_states(served.app.settings.home) == ["cancelled"], what="the job row")
    assert fake_backend.loads == ["slow-draw"]  # the pending caption step never started
    with sqlite3.connect(served.app.settings.home / "hgbot.sqlite3") as db:  # the abandoned step is accounted
        [(model, seconds)] = db.execute("SELECT model, seconds FROM usage").fetchall()
    assert model == "slow-draw" and 0 < seconds < 5


async def test_slash_cancel_cancels_the_callers_job_and_the_next_in_line_moves_up(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any, fake_backend: FakeBackend) -> None:
    served = await slack_bot(catalog=SLOW, max_jobs=1)
    fake_llm.script(*[llm] * 10)
    first = mention(fake_slack, "draw a slow cat then caption it")
    await fake_slack.wait_ack(await fake_slack.push("events_api", first))
    await fake_slack.wait_for(lambda: fake_backend.loads, what="the first job running")
    second = mention(fake_slack, "hello there", user=BOB)
    await fake_slack.wait_ack(await fake_slack.push("events_api", second))
    waiting = await fake_slack.wait_for(
        lambda: [t for t in fake_slack.bot_texts(CHANNEL, second["event"]["ts"]) if "in line" in t], 5, "a place")
    assert waiting[0] == "⏳ next in line"

    envelope = await fake_slack.push("slash_commands", fake_slack.command_payload("cancel", user=USER, channel=CHANNEL))
    ack = await fake_slack.wait_ack(envelope)
    assert ack.payload == {"text": "Cancelling your request."}
    await fake_slack.wait_for(lambda: "all done" in fake_slack.bot_texts(CHANNEL, second["event"]["ts"]), 10,
                              "bob's answer once the slot is free")
    await fake_slack.wait_for(lambda: job_states(served.app.settings.home) == ["cancelled", "done"], 5, "the rows")
    nothing = await fake_slack.push("slash_commands", fake_slack.command_payload("cancel", user=USER, channel=CHANNEL))
    assert (await fake_slack.wait_ack(nothing)).payload == {"text": "You have no request running in this channel."}


async def test_an_interrupted_job_is_told_at_start_up_and_retried_once(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any, make_app: Any, tmp_path: Path) -> None:
    home = tmp_path / "shared-home"
    thread = fake_slack.user_message(CHANNEL, USER, f"<@{fake_slack.bot_user}> say hi")["ts"]
    store = await SqliteStore.open(home / "hgbot.sqlite3", home / "artifacts")
    dead = "elsewhere:1:gone"
    await store.register_owner(dead, "elsewhere", 1)
    key = ConversationKey("slack", fake_slack.team, CHANNEL, thread)
    job = await store.add_job(key, user=USER, text="say hi", payload={"files": []}, owner=dead)
    await store.start_job(job, dead)
    await store.close()
    with sqlite3.connect(home / "hgbot.sqlite3") as db:
        db.execute("UPDATE job_owners SET heartbeat = 0")  # it died long ago

    await slack_bot(home=home)
    notice = (await fake_slack.wait_for(
        lambda: [m for m in fake_slack.thread(CHANNEL, thread) if m.get("text") == INTERRUPTED_TEXT], 5, "the notice"))[0]
    assert fake_slack.buttons(CHANNEL, notice["ts"]) == {"hgbot_retry": str(job)}
    assert session_statuses(fake_slack, CHANNEL, thread) == ["active"]  # the dead process left it processing
    fake_llm.script({"tasks": []}, "hi again")
    for _ in range(2):  # a double click runs it once
        await fake_slack.push("interactive", fake_slack.block_action(CHANNEL, notice["ts"], "hgbot_retry", str(job),
                                                                     user=USER, thread_ts=thread))
    await fake_slack.wait_for(lambda: "hi again" in fake_slack.bot_texts(CHANNEL, thread), 10, "the retried answer")
    # the row is ended just after the answer is posted
    await fake_slack.wait_for(lambda: job_states(home) == ["interrupted", "done"], 5, "the rows")

    retry = fake_slack.event_body(fake_slack.user_message(CHANNEL, USER, "retry", thread_ts=thread))
    await fake_slack.wait_ack(await fake_slack.push("events_api", retry))  # the last job is done: a plain message
    await fake_slack.wait_for(lambda: len(job_states(home)) == 3, 5, "a new job for the plain 'retry'")


async def test_a_retry_reply_reruns_an_interrupted_job(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any, tmp_path: Path) -> None:
    home = tmp_path / "h2"
    thread = fake_slack.user_message(CHANNEL, USER, f"<@{fake_slack.bot_user}> tell me a joke")["ts"]
    store = await SqliteStore.open(home / "hgbot.sqlite3", home / "artifacts")
    key = ConversationKey("slack", fake_slack.team, CHANNEL, thread)
    await store.register_owner("elsewhere:2:gone", "elsewhere", 2)
    job = await store.add_job(key, user=USER, text="tell me a joke", payload={}, owner="elsewhere:2:gone")
    await store.start_job(job, "elsewhere:2:gone")
    await store.close()
    with sqlite3.connect(home / "hgbot.sqlite3") as db:
        db.execute("UPDATE job_owners SET heartbeat = 0")
    await slack_bot(home=home)
    await fake_slack.wait_for(lambda: INTERRUPTED_TEXT in fake_slack.bot_texts(CHANNEL, thread), 5, "the notice")
    fake_llm.script({"tasks": []}, "a joke")
    retry = fake_slack.event_body(fake_slack.user_message(CHANNEL, USER, "retry", thread_ts=thread))
    await fake_slack.wait_ack(await fake_slack.push("events_api", retry))
    await fake_slack.wait_for(lambda: "a joke" in fake_slack.bot_texts(CHANNEL, thread), 10, "the answer")
    assert any("tell me a joke" in json.dumps(r["messages"]) for r in fake_llm.requests)  # the original request


async def start_slow_job(fake_slack: FakeSlack, fake_llm: Any, fake_backend: FakeBackend,
                         dm: bool = False) -> dict[str, Any]:
    """Alice's "draw a slow cat then caption it" (a mention, or a DM), acked, its first step running."""
    fake_llm.script(*[llm] * 10)
    if dm:
        event = fake_slack.user_message("D0ALICE", USER, "draw a slow cat then caption it", channel_type="im")
        body = fake_slack.event_body(event)
    else:
        body = mention(fake_slack, "draw a slow cat then caption it")
    await fake_slack.wait_ack(await fake_slack.push("events_api", body))
    await fake_slack.wait_for(lambda: fake_backend.loads, what="step 1 running")
    return dict(body["event"])


async def test_a_stop_reply_in_an_assistant_thread_cancels_the_request_running_there(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any, fake_backend: FakeBackend) -> None:
    # a "stop" reply works in any thread, agent session or not
    served = await slack_bot(catalog=SLOW)
    dm = await start_slow_job(fake_slack, fake_llm, fake_backend, dm=True)
    stop = fake_slack.user_message("D0ALICE", USER, "stop", thread_ts=dm["ts"], channel_type="im")
    await fake_slack.wait_ack(await fake_slack.push("events_api", fake_slack.event_body(stop)))
    await fake_slack.wait_for(lambda: any("Cancelled after" in t for t in fake_slack.bot_texts("D0ALICE", dm["ts"])),
                              5, "the cancelled status")
    assert [t for t in fake_slack.bot_texts("D0ALICE", dm["ts"]) if "Cancelled" in t][0].endswith("(done: nothing).")
    await fake_slack.wait_for(lambda: job_states(served.app.settings.home) == ["cancelled"], what="one job, cancelled")
    assert fake_backend.loads == ["slow-draw"]  # the caption never started, and "stop" was no new request


async def test_a_stop_reply_from_someone_else_is_refused(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any, fake_backend: FakeBackend) -> None:
    served = await slack_bot(catalog=SLOW)
    thread = (await start_slow_job(fake_slack, fake_llm, fake_backend))["ts"]
    stop = fake_slack.user_message(CHANNEL, BOB, "stop", thread_ts=thread)
    await fake_slack.wait_ack(await fake_slack.push("events_api", fake_slack.event_body(stop)))
    await fake_slack.wait_for(lambda: fake_slack.calls_to("chat.postEphemeral"), what="the refusal")
    assert "Only the person who asked" in fake_slack.calls_to("chat.postEphemeral")[-1].args["text"]
    await fake_slack.wait_for(lambda: "all done" in fake_slack.bot_texts(CHANNEL, thread), 10, "the answer")
    await fake_slack.wait_for(lambda: job_states(served.app.settings.home) == ["done"], what="one job, done")


async def test_a_running_server_tells_the_thread_of_a_replica_that_died_on_another_host(
        slack_bot: Serve, fake_slack: FakeSlack, tmp_path: Path) -> None:
    home = tmp_path / "h3"
    served = await slack_bot(home=home, job_sweep_s=1)
    thread = fake_slack.user_message(CHANNEL, USER, f"<@{fake_slack.bot_user}> say hi")["ts"]
    replica = "otherhost:3:replica"  # serving next to us, then gone: its heartbeat goes stale
    await served.app.store.register_owner(replica, "otherhost", 3)
    job = await served.app.store.add_job(ConversationKey("slack", fake_slack.team, CHANNEL, thread), user=USER,
                                         text="say hi", payload={"files": []}, owner=replica)
    await served.app.store.start_job(job, replica)
    with sqlite3.connect(home / "hgbot.sqlite3") as db:
        db.execute("UPDATE job_owners SET heartbeat = 0 WHERE id = ?", (replica,))
    await fake_slack.wait_for(lambda: INTERRUPTED_TEXT in fake_slack.bot_texts(CHANNEL, thread), 5, "the notice")
    assert job_states(home) == ["interrupted"]


def agent_stop(fake: FakeSlack, channel: str, thread: str, user: str, event_id: str | None = None) -> dict[str, Any]:
    """Slack's ``agent_session_stopped``: the native stop button of a processing agent session."""
    return fake.event_body({"type": "agent_session_stopped", "channel": channel, "thread_ts": thread, "user": user,
                            "event_ts": f"{time.time():.6f}", "streaming_message_ts": []}, event_id)


def session_statuses(fake: FakeSlack, channel: str, thread: str) -> list[str]:
    return [c.args["status"] for c in fake.calls_to("agents.sessions.setStatus")
            if c.args["channel"] == channel and c.args["thread_ts"] == thread]


async def test_slacks_stop_button_cancels_the_job_once_and_ends_the_processing_session(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any, fake_backend: FakeBackend) -> None:
    served = await slack_bot(catalog=SLOW)
    dm = await start_slow_job(fake_slack, fake_llm, fake_backend, dm=True)
    assert session_statuses(fake_slack, "D0ALICE", dm["ts"]) == ["processing"]

    stop = agent_stop(fake_slack, "D0ALICE", dm["ts"], USER)
    for _ in range(2):  # Slack redelivers an event it thinks we missed: processed once
        await fake_slack.wait_ack(await fake_slack.push("events_api", stop))
    await fake_slack.wait_for(lambda: any("Cancelled after" in t for t in fake_slack.bot_texts("D0ALICE", dm["ts"])),
                              5, "the cancelled status")
    assert [t for t in fake_slack.bot_texts("D0ALICE", dm["ts"]) if "Cancelled" in t][0].endswith("(done: nothing).")
    await fake_slack.wait_for(lambda: job_states(served.app.settings.home) == ["cancelled"], what="the job row")
    # the stop's own "active", then the job's end: never back to processing
    await fake_slack.wait_for(lambda: session_statuses(fake_slack, "D0ALICE", dm["ts"]) == ["processing", "active",
                                                                                             "active"], 5, "statuses")
    assert fake_backend.loads == ["slow-draw"]
    assert not fake_slack.calls_to("chat.postEphemeral")


async def test_slacks_stop_button_pressed_by_someone_else_is_refused_and_the_job_answers(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any, fake_backend: FakeBackend) -> None:
    served = await slack_bot(catalog=SLOW)
    thread = (await start_slow_job(fake_slack, fake_llm, fake_backend))["ts"]
    await fake_slack.wait_ack(await fake_slack.push("events_api", agent_stop(fake_slack, CHANNEL, thread, BOB)))
    await fake_slack.wait_for(lambda: fake_slack.calls_to("chat.postEphemeral"), what="the refusal")
    refusal = fake_slack.calls_to("chat.postEphemeral")[-1].args
    assert refusal["user"] == BOB and "Only the person who asked" in refusal["text"]
    await fake_slack.wait_for(lambda: "all done" in fake_slack.bot_texts(CHANNEL, thread), 10, "the answer")
    await fake_slack.wait_for(lambda: job_states(served.app.settings.home) == ["done"], what="one job, done")
    await fake_slack.wait_for(lambda: session_statuses(fake_slack, CHANNEL, thread) == ["processing", "active"], 5,
                              "processing until the answer, then active")


async def test_slacks_stop_button_with_nothing_running_only_ends_the_session(
        slack_bot: Serve, fake_slack: FakeSlack) -> None:
    served = await slack_bot()
    thread = fake_slack.user_message(CHANNEL, USER, "an old thread")["ts"]
    await fake_slack.wait_ack(await fake_slack.push("events_api", agent_stop(fake_slack, CHANNEL, thread, USER)))
    await fake_slack.wait_for(lambda: session_statuses(fake_slack, CHANNEL, thread) == ["active"], 5, "active")
    assert fake_slack.bot_texts(CHANNEL, thread) == [] and job_states(served.app.settings.home) == []
