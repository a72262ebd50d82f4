"""Scenarios over Socket Mode: ``serve_slack`` with the real bolt app and a real App, against the fake Slack."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.adapters.slack.fake_slack import FakeSlack
from tests.adapters.slack.harness import (
    CAPTION,
    CHANNEL,
    USER,
    Serve,
    is_gray,
    mention,
    plan_edit,
    png,
    uploaded_ids,
)
from tests.fakes.llm_server import HttpError

QUIET = 0.3  # how long "nothing happens" is watched for


async def test_slash_command_uses_the_image_shared_before_and_answers_in_a_thread(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    await slack_bot()
    shared = fake_slack.add_file("cat.png", png(), "image/png")
    # sharing the file is top-level chatter: hgbot must not answer it
    await fake_slack.wait_ack(await fake_slack.push("events_api", fake_slack.event_body(
        fake_slack.user_message(CHANNEL, USER, "here is the cat", files=[shared]))))
    fake_llm.script(plan_edit(fake_llm, "make it grayscale"), "Here is your cat in **grayscale**.")

    envelope = await fake_slack.push("slash_commands",
                                     fake_slack.command_payload("make it grayscale", user=USER, channel=CHANNEL))
    ack = await fake_slack.wait_ack(envelope)
    assert ack.at - fake_slack.pushed_at[envelope] < 3

    done = await fake_slack.wait_for(lambda: fake_slack.calls_to("files.completeUploadExternal"), 20, "the upload")
    intro = fake_slack.calls_to("chat.postMessage")[0].args
    assert intro["channel"] == CHANNEL and not intro.get("thread_ts")
    assert "Working on: make it grayscale" in intro["text"] and "cat.png" in intro["text"]
    thread_ts = fake_slack.messages[CHANNEL][1]["ts"]  # the intro message is the job's thread
    assert done[0].args["thread_ts"] == thread_ts and done[0].args["channel_id"] == CHANNEL
    assert done[0].args["initial_comment"] == CAPTION
    assert is_gray(fake_slack.blobs[uploaded_ids(done[0].args)[0]])

    texts = fake_slack.bot_texts(CHANNEL, thread_ts)
    status, answer = texts[1], texts[2]
    assert status.startswith("✅ Done") and CAPTION in status  # the status became the plan summary
    assert answer == "Here is your cat in *grayscale*."  # Markdown bold → mrkdwn bold
    assert texts[3] == CAPTION  # the file message, captioned


async def test_mention_then_plain_reply_in_the_thread_reuses_the_first_artifact(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    await slack_bot()
    seen: list[list[str]] = []
    fake_llm.script(plan_edit(fake_llm, "make it grayscale", seen), "Done.")
    body = mention(fake_slack, "make this grayscale", files=[fake_slack.add_file("a.png", png(), "image/png")])
    thread_ts = body["event"]["ts"]
    await fake_slack.push("events_api", body)
    await fake_slack.wait_for(lambda: fake_slack.calls_to("files.completeUploadExternal"), 20, "the first upload")

    # a reply without mention in hgbot's thread continues the conversation: the first image is still there
    def second_plan(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(fake_llm.handles(request))
        return {"tasks": [{"id": 1, "task": "image-to-image", "deps": [],
                           "args": {"image": seen[0][0], "text": "flip it"}}]}

    fake_llm.script(second_plan, "Flipped the original.")
    reply = fake_slack.user_message(CHANNEL, USER, "now flip the original instead", thread_ts=thread_ts)
    await fake_slack.push("events_api", fake_slack.event_body(reply))
    uploads = await fake_slack.wait_for(
        lambda: len(fake_slack.calls_to("files.completeUploadExternal")) >= 2 and
        fake_slack.calls_to("files.completeUploadExternal"), 20, "the second upload")
    assert seen[0][0] in seen[1]
    assert uploads[1].args["thread_ts"] == thread_ts
    texts = fake_slack.bot_texts(CHANNEL, thread_ts)
    assert "Flipped the original." in texts and sum(t.startswith("✅ Done") for t in texts) == 2

    # another thread is another conversation: none of the first thread's artifacts are offered
    def chat_plan(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(fake_llm.handles(request))
        return {"tasks": []}

    fake_llm.script(chat_plan, "Nothing to edit here.")
    other = mention(fake_slack, "what did I send you?")
    await fake_slack.push("events_api", other)
    await fake_slack.wait_for(lambda: "Nothing to edit here." in fake_slack.bot_texts(CHANNEL, other["event"]["ts"]))
    assert seen[2] == []


async def test_command_is_acked_at_once_while_the_job_is_still_running(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    served = await slack_bot()
    orchestrator = served.app.orchestrator
    real_handle = orchestrator.handle
    gpu_free = asyncio.Event()

    async def busy_gpu(request: Any, progress: Any = None) -> Any:
        await gpu_free.wait()  # the job waits for a busy GPU queue
        return await real_handle(request, progress)

    monkeypatch.setattr(orchestrator, "handle", busy_gpu)
    fake_llm.script({"tasks": []}, "Finally done.")
    envelope = await fake_slack.push("slash_commands", fake_slack.command_payload("slow one", user=USER, channel=CHANNEL))
    ack = await fake_slack.wait_ack(envelope, within=3)
    assert ack.at - fake_slack.pushed_at[envelope] < 3
    await fake_slack.wait_for(lambda: len(fake_slack.calls_to("chat.postMessage")) >= 2, what="the status message")
    thread_ts = fake_slack.messages[CHANNEL][0]["ts"]
    assert fake_slack.bot_texts(CHANNEL, thread_ts)[1] == "🧠 Thinking…"
    gpu_free.set()
    await fake_slack.wait_for(lambda: fake_slack.bot_texts(CHANNEL, thread_ts)[1] == "Finally done.")


async def test_an_event_delivered_twice_is_answered_once(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    await slack_bot()
    fake_llm.script({"tasks": []}, "Once.")
    body = mention(fake_slack, "hello")
    first = await fake_slack.push("events_api", body)
    again = await fake_slack.push("events_api", body, retry_attempt=1)  # Slack's redelivery: same event_id
    await fake_slack.wait_ack(first)
    await fake_slack.wait_ack(again)
    thread_ts = body["event"]["ts"]
    await fake_slack.wait_for(lambda: "Once." in fake_slack.bot_texts(CHANNEL, thread_ts))
    await asyncio.sleep(QUIET)
    assert fake_slack.bot_texts(CHANNEL, thread_ts) == ["Once."]
    assert len(fake_llm.planning_requests()) == 1


async def test_a_429_is_retried_after_retry_after(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    await slack_bot()
    fake_llm.script({"tasks": []}, "Worth the wait.")
    fake_slack.rate_limit("chat.postMessage", retry_after=1, times=1)
    body = mention(fake_slack, "hello")
    await fake_slack.push("events_api", body)
    await fake_slack.wait_for(lambda: "Worth the wait." in fake_slack.bot_texts(CHANNEL, body["event"]["ts"]))
    posts = fake_slack.calls_to("chat.postMessage", ok_only=False)
    assert posts[0].status == 429 and posts[1].status == 200
    assert posts[1].at - posts[0].at >= 1.0  # Retry-After: 1 was honoured


async def test_a_long_answer_is_split_below_the_limit_without_cutting_code(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    await slack_bot()
    code = "\n".join(f"print('line {i:03d}')  # {'x' * 20}" for i in range(150))
    long_answer = ("Intro paragraph. " * 60) + "\n\n```python\n" + code + "\n```\n\n" + ("Outro words. " * 120)
    fake_llm.script({"tasks": []}, long_answer)
    body = mention(fake_slack, "write a long program")
    thread_ts = body["event"]["ts"]
    await fake_slack.push("events_api", body)
    await fake_slack.wait_for(lambda: any("Outro words." in t for t in fake_slack.bot_texts(CHANNEL, thread_ts)), 20)
    await asyncio.sleep(QUIET)
    parts = fake_slack.bot_texts(CHANNEL, thread_ts)
    assert len(parts) >= 3 and all(len(p) <= 3500 for p in parts)
    assert all(p.count("```") % 2 == 0 for p in parts), "a message was cut inside a code block"
    joined = "\n".join(parts)
    assert all(f"print('line {i:03d}')" in joined for i in range(150))


async def test_a_failing_llm_ends_in_a_readable_error_in_the_thread(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    await slack_bot()
    fake_llm.script(HttpError(500), HttpError(500), HttpError(500))
    # plain chat: with the LLM down there is nothing the rule planner could run instead
    body = mention(fake_slack, "how are you doing today, my friend?")
    thread_ts = body["event"]["ts"]
    await fake_slack.push("events_api", body)
    # the status becomes the failed summary, then the reason follows in words (not the bug apology)
    texts = await fake_slack.wait_for(lambda: len(fake_slack.bot_texts(CHANNEL, thread_ts)) >= 2 and
                                      fake_slack.bot_texts(CHANNEL, thread_ts), 20, "an error message")
    assert texts[0].startswith("❌ Failed")
    assert "500" in texts[1] and "reference" not in texts[1]


async def test_a_bug_ends_in_an_apology_with_a_reference(
        slack_bot: Serve, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    served = await slack_bot()

    async def broken(request: Any, progress: Any = None) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(served.app.orchestrator, "handle", broken)
    body = mention(fake_slack, "anything")
    await fake_slack.push("events_api", body)
    text = await fake_slack.wait_for(lambda: [t for t in fake_slack.bot_texts(CHANNEL, body["event"]["ts"])
                                              if "reference" in t], what="the apology")
    ref = text[0].split("`")[1]
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records), "the traceback was not logged"
    assert "boom" not in text[0]


async def test_a_denied_user_gets_an_ephemeral_notice(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    await slack_bot(deny_users=[USER])
    await fake_slack.push("events_api", mention(fake_slack, "hello"))
    notice = await fake_slack.wait_for(lambda: fake_slack.calls_to("chat.postEphemeral"), what="the notice")
    assert notice[0].args["user"] == USER and "not allowed" in notice[0].args["text"]
    envelope = await fake_slack.push("slash_commands", fake_slack.command_payload("hi", user=USER, channel=CHANNEL))
    ack = await fake_slack.wait_ack(envelope)
    assert ack.payload and "not allowed" in ack.payload["text"]  # the command's ack is the ephemeral notice
    await asyncio.sleep(QUIET)
    assert not fake_slack.calls_to("chat.postMessage") and not fake_llm.requests


async def test_slacks_login_page_instead_of_a_file_names_the_missing_scope(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    await slack_bot()
    file = fake_slack.add_file("photo.png", png(), "image/png", login_page=True)
    body = mention(fake_slack, "describe this", files=[file])
    await fake_slack.push("events_api", body)
    texts = await fake_slack.wait_for(lambda: [t for t in fake_slack.bot_texts(CHANNEL, body["event"]["ts"])
                                               if "files:read" in t], what="the scope message")
    assert "photo.png" in texts[0]
    assert not fake_llm.requests


async def test_bot_posts_edits_and_other_chatter_are_ignored(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    await slack_bot()
    parent = fake_slack.user_message(CHANNEL, USER, "a thread hgbot is not in")
    events = [
        fake_slack.user_message(CHANNEL, USER, "top-level chatter"),
        fake_slack.user_message(CHANNEL, USER, "reply in a thread without hgbot", thread_ts=parent["ts"]),
        {**fake_slack.user_message(CHANNEL, "U0BOT2", "another bot"), "subtype": "bot_message", "bot_id": "B2"},
        {"type": "message", "subtype": "message_changed", "channel": CHANNEL, "ts": parent["ts"],
         "channel_type": "channel", "message": {"user": USER, "text": "edited", "ts": parent["ts"]}},
        {**fake_slack.user_message("D0ALICE", fake_slack.bot_user, "hgbot's own DM", channel_type="im")},
    ]
    for event in events:
        await fake_slack.wait_ack(await fake_slack.push("events_api", fake_slack.event_body(event)))
    await asyncio.sleep(QUIET)
    assert not fake_slack.calls_to("chat.postMessage") and not fake_llm.requests


async def test_a_dm_needs_no_mention_and_model_output_cannot_ping_the_channel(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    await slack_bot()
    fake_llm.script({"tasks": []}, "Hello @channel and <!everyone>, meet <@U0BOSS>.")
    dm = fake_slack.user_message("D0ALICE", USER, "say hi to everyone", channel_type="im")
    await fake_slack.push("events_api", fake_slack.event_body(dm))
    texts = await fake_slack.wait_for(lambda: [t for t in fake_slack.bot_texts("D0ALICE", dm["ts"])
                                               if t.startswith("Hello")], what="the DM answer")
    assert "@channel" not in texts[0] and "<!everyone>" not in texts[0] and "<@U0BOSS>" not in texts[0]
    assert "@ channel" in texts[0]
    status = fake_slack.calls_to("assistant.threads.setStatus")
    assert status and status[0].args["thread_ts"] == dm["ts"] and status[-1].args["status"] == ""


async def test_a_mention_in_a_thread_takes_the_files_shared_earlier_in_it(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    await slack_bot()
    parent = fake_slack.user_message(CHANNEL, "U0BOB", "look at this",
                                     files=[fake_slack.add_file("bob.png", png(), "image/png")])
    seen: list[list[str]] = []

    def chat_plan(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(fake_llm.handles(request))
        return {"tasks": []}

    fake_llm.script(chat_plan, "I see Bob's picture.")
    body = mention(fake_slack, "what is in this picture?", thread_ts=parent["ts"])
    await fake_slack.push("events_api", body)
    await fake_slack.wait_for(lambda: "I see Bob's picture." in fake_slack.bot_texts(CHANNEL, parent["ts"]))
    assert len(seen[0]) == 1  # Bob's image became an artifact of this thread's conversation


async def test_a_command_where_hgbot_is_not_a_member_says_so_through_the_response_url(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    await slack_bot()
    fake_slack.not_in.add("C0PRIVATE")
    await fake_slack.push("slash_commands", fake_slack.command_payload("hi", user=USER, channel="C0PRIVATE"))
    answer = await fake_slack.wait_for(lambda: fake_slack.responses, what="the response_url message")
    assert answer[0]["response_type"] == "ephemeral" and "/invite @hgbot" in answer[0]["text"]
    assert not fake_llm.requests


async def test_an_oversized_file_is_refused_before_downloading(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    await slack_bot(max_file_mb=1)
    file = {**fake_slack.add_file("huge.mov", b"x", "video/quicktime"), "size": 300 * 1024 * 1024}
    body = mention(fake_slack, "summarize this video", files=[file])
    await fake_slack.push("events_api", body)
    texts = await fake_slack.wait_for(lambda: [t for t in fake_slack.bot_texts(CHANNEL, body["event"]["ts"])
                                               if "limit" in t], what="the size message")
    assert "huge.mov" in texts[0] and "300.0 MB" in texts[0]
    assert not fake_llm.requests


async def test_the_status_message_shows_the_steps_while_the_job_runs(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    await slack_bot()
    edit = plan_edit(fake_llm, "make it grayscale")

    def plan_then_slow_answer(request: dict[str, Any]) -> Any:
        fake_llm.delay = 1.5  # the answer comes late: the status must show the finished step meanwhile
        return edit(request)

    fake_llm.script(plan_then_slow_answer, "All done.")
    body = mention(fake_slack, "make this grayscale", files=[fake_slack.add_file("p.png", png(), "image/png")])
    await fake_slack.push("events_api", body)
    await fake_slack.wait_for(lambda: "All done." in fake_slack.bot_texts(CHANNEL, body["event"]["ts"]), 20)
    edits = [c.args["text"] for c in fake_slack.calls_to("chat.update")]
    live = [t for t in edits if t.startswith("🧠 *Plan* (1 step)")]
    assert live and "1. image-to-image · hgbot/image-edit · ok" in live[-1]
    assert edits[-1].startswith("✅ Done")


async def test_after_a_restart_a_plain_reply_in_hgbots_thread_is_still_answered(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any, tmp_path: Any) -> None:
    home = tmp_path / "shared-home"
    first = await slack_bot(home=home)
    fake_llm.script({"tasks": []}, "Hello!")
    body = mention(fake_slack, "hi there")
    thread_ts = body["event"]["ts"]
    await fake_slack.push("events_api", body)
    await fake_slack.wait_for(lambda: "Hello!" in fake_slack.bot_texts(CHANNEL, thread_ts), 20, "the first answer")
    first.task.cancel()
    await asyncio.gather(first.task, return_exceptions=True)

    await slack_bot(home=home)  # a new process on the same database: nothing remembered in memory
    fake_llm.script({"tasks": []}, "Still here.")
    reply = fake_slack.user_message(CHANNEL, USER, "are you still there?", thread_ts=thread_ts)
    await fake_slack.push("events_api", fake_slack.event_body(reply))
    await fake_slack.wait_for(lambda: "Still here." in fake_slack.bot_texts(CHANNEL, thread_ts), 20, "the answer")
    assert not fake_slack.calls_to("conversations.replies")  # the store knew the thread
