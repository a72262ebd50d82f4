"""The Discord client on a scripted orchestrator: addressing, threads, progress, files, safety, transport.

These tests pin what the adapter itself decides; ``test_discord_scenarios.py`` runs the real App.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord import application_id_from_token, invite_url
from adapters.discord.endpoints import Endpoints
from orchestrator.errors import ConfigError
from orchestrator.types import (
    Artifact,
    ConversationKey,
    EventType,
    ProgressEvent,
    Reply,
    RunStatus,
    TaskRun,
)
from tests.adapters.discord.fake_discord import (
    BOT_ID,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    GUILD_ID,
    OTHER_CHANNEL_ID,
    OTHER_USER_ID,
    ROLE_ID,
    TOKEN,
    USER_ID,
    FakeDiscord,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def reply_with(text: str = "ok", **kw: Any) -> Any:
    async def handler(request: Any, progress: Any) -> Reply:
        return Reply(text=text, **kw)

    return handler


async def first_thread(fake: FakeDiscord) -> int:
    threads = await fake.wait_for(fake.threads)
    return int(threads[0]["id"])


# ---- addressing and conversations ------------------------------------------------------------------


async def test_mention_opens_a_thread_and_a_plain_reply_there_continues(fake_discord: FakeDiscord,
                                                                       standin_bot: Any) -> None:
    client, orch = await standin_bot()
    orch.handler = reply_with("first")
    msg = await fake_discord.say("describe a cat", mention=True)
    tid = await first_thread(fake_discord)
    assert tid == int(msg["id"])  # the thread hangs on the user's message
    assert fake_discord.channels[tid]["name"] == "describe a cat"
    await fake_discord.wait_for(lambda: fake_discord.bot_messages(tid))
    key = ConversationKey("discord", str(GUILD_ID), str(CHANNEL_ID), str(tid))
    assert orch.requests[0].conversation == key
    assert orch.requests[0].text == "describe a cat"  # the mention itself is not part of the request
    assert orch.requests[0].user == str(USER_ID)

    orch.handler = reply_with("second")
    await fake_discord.say("and a dog?", channel_id=tid)  # no mention needed inside hgbot's thread
    await fake_discord.wait_for(lambda: len(fake_discord.bot_messages(tid)) == 2)
    assert [r.conversation for r in orch.requests] == [key, key]
    assert len(fake_discord.threads()) == 1


async def test_unaddressed_channel_messages_and_other_bots_are_ignored(fake_discord: FakeDiscord,
                                                                      standin_bot: Any) -> None:
    client, orch = await standin_bot()
    await fake_discord.say("just chatting")
    await fake_discord.say("I am a bot", mention=True, author={**fake_discord.other_user, "bot": True})
    await fake_discord.say("@everyone hello")  # mention_everyone is not a mention of hgbot
    await fake_discord.say("ping", mention=True)  # a marker: once this is answered, the others were seen
    await fake_discord.wait_for(lambda: fake_discord.bot_messages(int(fake_discord.threads()[0]["id"]))
                                if fake_discord.threads() else None)
    assert [r.text for r in orch.requests] == ["ping"]


async def test_a_reply_to_hgbots_channel_message_continues_its_thread(fake_discord: FakeDiscord,
                                                                     standin_bot: Any) -> None:
    client, orch = await standin_bot()
    await fake_discord.slash("draw a fox")  # leaves hgbot's own message in the channel, with a thread on it
    tid = await first_thread(fake_discord)
    await fake_discord.wait_for(lambda: fake_discord.bot_messages(tid))
    await fake_discord.say("make it blue", reply_to=tid)  # replying to the channel message, no mention
    await fake_discord.wait_for(lambda: len(orch.requests) == 2)
    assert orch.requests[1].conversation == orch.requests[0].conversation
    assert orch.requests[1].conversation.thread == str(tid)
    await fake_discord.wait_for(lambda: len(fake_discord.bot_messages(tid)) == 2)


async def test_dms_follow_the_setting(fake_discord: FakeDiscord, standin_bot: Any) -> None:
    client, orch = await standin_bot(discord_dms=True)
    await fake_discord.say("hello in private", channel_id=DM_CHANNEL_ID)
    await fake_discord.wait_for(lambda: fake_discord.bot_messages(DM_CHANNEL_ID))
    assert orch.requests[0].conversation == ConversationKey("discord", "dm", str(DM_CHANNEL_ID))
    assert not fake_discord.threads()


async def test_dms_can_be_turned_off(fake_discord: FakeDiscord, standin_bot: Any) -> None:
    client, orch = await standin_bot(discord_dms=False)
    await fake_discord.say("hello in private", channel_id=DM_CHANNEL_ID)
    await fake_discord.say("marker", mention=True)
    await fake_discord.wait_for(lambda: orch.requests)
    assert [r.text for r in orch.requests] == ["marker"]
    assert not fake_discord.bot_messages(DM_CHANNEL_ID)


async def test_reply_to_a_users_file_brings_that_file(fake_discord: FakeDiscord, standin_bot: Any) -> None:
    client, orch = await standin_bot()
    shared = await fake_discord.say("look at this", files=[("cat.png", PNG, "image/png")])
    await fake_discord.say("what is in this picture?", mention=True, reply_to=int(shared["id"]))
    await fake_discord.wait_for(lambda: orch.requests)
    [attachment] = orch.requests[0].attachments
    assert (attachment.filename, attachment.data, attachment.mime) == ("cat.png", PNG, "image/png")


async def test_called_into_a_users_thread_it_takes_the_file_above_and_stays(fake_discord: FakeDiscord,
                                                                           standin_bot: Any) -> None:
    client, orch = await standin_bot()
    tid = await fake_discord.user_thread("holiday photos")
    await fake_discord.say("our beach", channel_id=tid, files=[("beach.png", PNG, "image/png")])
    await fake_discord.say("nice!", channel_id=tid, author=fake_discord.other_user)  # not for hgbot
    await fake_discord.say("what is in the picture above?", channel_id=tid, mention=True)
    await fake_discord.wait_for(lambda: orch.requests)
    [first] = orch.requests
    assert [a.filename for a in first.attachments] == ["beach.png"]
    assert first.conversation == ConversationKey("discord", str(GUILD_ID), str(CHANNEL_ID), str(tid))
    await fake_discord.say("and the colours?", channel_id=tid)  # hgbot answers in this thread now
    await fake_discord.wait_for(lambda: len(orch.requests) == 2)
    assert orch.requests[1].conversation == first.conversation and orch.requests[1].attachments == ()
    assert len(fake_discord.threads()) == 1  # no thread opened inside the thread


async def test_a_thread_missing_from_the_cache_is_fetched_not_mistaken_for_a_channel(
        fake_discord: FakeDiscord, standin_bot: Any) -> None:
    client, orch = await standin_bot()
    tid = 1_300_000_000_000_000_000
    fake_discord._thread(CHANNEL_ID, tid, "made while hgbot was away", owner_id=USER_ID)
    fake_discord._pending_events.clear()  # no THREAD_CREATE reaches the client
    await fake_discord.say("hello", channel_id=tid, mention=True)
    await fake_discord.wait_for(lambda: fake_discord.bot_messages(tid))
    assert fake_discord.requests("GET", rf"^/channels/{tid}$")
    assert orch.requests[0].conversation == ConversationKey("discord", str(GUILD_ID), str(CHANNEL_ID), str(tid))
    assert not fake_discord.requests("POST", r"/threads$")


# ---- access ---------------------------------------------------------------------------------------------


async def test_denied_user_gets_a_reason_and_no_work(fake_discord: FakeDiscord, standin_bot: Any) -> None:
    client, orch = await standin_bot(deny_users=[str(USER_ID)])
    msg = await fake_discord.say("do something", mention=True)
    [answer] = await fake_discord.wait_for(lambda: fake_discord.bot_messages(CHANNEL_ID))
    assert "not allowed" in answer["content"]
    assert answer["message_reference"]["message_id"] == msg["id"]
    assert orch.requests == [] and fake_discord.threads() == []


async def test_allow_list_by_role_admits_members_of_that_role(fake_discord: FakeDiscord, standin_bot: Any) -> None:
    client, orch = await standin_bot(allow_roles=["artists"])
    await fake_discord.say("no role", mention=True)
    await fake_discord.wait_for(lambda: fake_discord.bot_messages(CHANNEL_ID))
    assert orch.requests == []
    await fake_discord.say("with role", mention=True, roles=[ROLE_ID], author=fake_discord.other_user)
    await fake_discord.wait_for(lambda: orch.requests)
    assert orch.requests[0].user == str(OTHER_USER_ID)


async def test_a_denied_channel_covers_its_threads(fake_discord: FakeDiscord, standin_bot: Any) -> None:
    client, orch = await standin_bot(deny_channels=[str(CHANNEL_ID)])
    tid = await fake_discord.user_thread("in general")
    await fake_discord.say("here?", channel_id=tid, mention=True)
    [answer] = await fake_discord.wait_for(lambda: fake_discord.bot_messages(tid))
    assert "disabled in this channel" in answer["content"]
    other = await fake_discord.say("and here?", channel_id=OTHER_CHANNEL_ID, mention=True)
    await fake_discord.wait_for(lambda: orch.requests)
    assert orch.requests[0].conversation.thread == other["id"]


# ---- what hgbot posts -----------------------------------------------------------------------------------


async def test_model_text_never_pings(fake_discord: FakeDiscord, standin_bot: Any) -> None:
    client, orch = await standin_bot()
    orch.handler = reply_with(f"@everyone @here look <@{USER_ID}>")
    await fake_discord.say("say hi to all", mention=True)
    tid = await first_thread(fake_discord)
    [answer] = await fake_discord.wait_for(lambda: fake_discord.bot_messages(tid))
    assert "@everyone" not in answer["content"] and "@here" not in answer["content"]
    assert "@ everyone" in answer["content"]
    assert answer["allowed_mentions"]["parse"] == []  # and user mentions are not parsed either
    assert not answer["allowed_mentions"].get("users")


async def test_long_answer_is_split_below_2000_characters_without_breaking_code(
        fake_discord: FakeDiscord, standin_bot: Any) -> None:
    client, orch = await standin_bot()
    code = "```python\n" + "\n".join(f"x{i} = {i}" for i in range(200)) + "\n```"
    text = "Intro paragraph.\n\n" + code + "\n\n" + "word " * 100
    assert 2000 < len(text) < 3000  # the 2,000-character cut falls inside the code block
    orch.handler = reply_with(text)
    await fake_discord.say("long please", mention=True)
    tid = await first_thread(fake_discord)
    parts = await fake_discord.wait_for(lambda: len(fake_discord.bot_messages(tid)) == 2
                                        and fake_discord.bot_messages(tid))
    contents = [m["content"] for m in parts]
    assert all(len(c) <= 2000 for c in contents)
    assert all(c.count("```") % 2 == 0 for c in contents)  # every chunk closes the fence it opens
    assert contents[1].startswith("```python\n")  # the block goes on, highlighted, in the next message
    assert "x0 = 0" in contents[0] and "x199 = 199" in contents[1]


async def test_generated_files_are_labelled_and_oversized_ones_reported(
        fake_discord: FakeDiscord, standin_bot: Any, tmp_path: Path) -> None:
    small = tmp_path / "out.png"
    small.write_bytes(PNG)
    big = tmp_path / "huge.mp4"
    with big.open("wb") as f:
        f.truncate(11 * 1024 * 1024)  # over the 10 MiB limit of an unboosted guild
    artifacts = (
        Artifact("a1", 1, "image", "image/png", small, small.stat().st_size, task="image-to-image",
                 model="hgbot/image-edit", filename="out.png"),
        Artifact("a2", 1, "video", "video/mp4", big, big.stat().st_size, task="text-to-video",
                 model="damo-vilab/text-to-video-ms-1.7b", filename="huge.mp4"),
    )
    client, orch = await standin_bot()
    orch.handler = reply_with("Here you go.", artifacts=artifacts)
    await fake_discord.say("make things", mention=True)
    tid = await first_thread(fake_discord)
    msgs = await fake_discord.wait_for(lambda: len(fake_discord.bot_messages(tid)) == 3
                                       and fake_discord.bot_messages(tid))
    text, image, note = (m["content"] for m in msgs)
    assert text == "Here you go."
    assert "image-to-image" in image and "hgbot/image-edit" in image
    assert [a["filename"] for a in msgs[1]["attachments"]] == ["out.png"]
    assert "huge.mp4" in note and "upload limit" in note and "artifact:a2" in note
    uploads = [c for c in fake_discord.calls if c.files]
    assert [(f[1], f[2]) for c in uploads for f in c.files] == [("out.png", PNG)]


async def test_progress_message_is_edited_in_place_at_most_once_per_interval(
        fake_discord: FakeDiscord, standin_bot: Any) -> None:
    client, orch = await standin_bot()  # progress_interval=0.2 in the fixture

    async def handler(request: Any, progress: Any) -> Reply:
        runs = [TaskRun(id=1, task="image-to-image"), TaskRun(id=2, task="image-to-text")]
        await progress(ProgressEvent(EventType.PLANNED, runs=tuple(runs)))
        for i in range(40):  # 40 state changes in ~0.8 s
            runs[i % 2].status = RunStatus.RUNNING
            runs[i % 2].model = "m"
            runs[i % 2].seconds = i / 50
            await progress(ProgressEvent(EventType.TASK, runs=tuple(runs)))
            await asyncio.sleep(0.02)
        for run in runs:
            run.status = RunStatus.OK
        await progress(ProgressEvent(EventType.TASK, runs=tuple(runs)))
        await progress(ProgressEvent(EventType.DELTA, text="Done"))
        return Reply(text="Done.", runs=tuple(runs))

    orch.handler = handler
    started = time.monotonic()
    await fake_discord.say("two steps", mention=True)
    tid = await first_thread(fake_discord)
    await fake_discord.wait_for(lambda: len(fake_discord.bot_messages(tid)) == 2)
    elapsed = time.monotonic() - started
    progress_msg, answer = fake_discord.bot_messages(tid)
    edits = fake_discord.requests("PATCH", rf"/channels/{tid}/messages/{progress_msg['id']}$")
    assert 1 <= len(edits) <= elapsed / 0.2 + 2  # coalesced: 41 changes, a handful of edits
    gaps = [b.at - a.at for a, b in zip(edits, edits[1:], strict=False)]
    assert all(g >= 0.15 for g in gaps[:-1])  # the last edit is the final state, written at once
    assert progress_msg["content"].count("✅") == 2 and "writing" not in progress_msg["content"]
    assert answer["content"] == "Done."
    assert fake_discord.requests("POST", rf"/channels/{tid}/typing$")


async def test_a_crash_in_the_orchestrator_ends_in_a_readable_message(fake_discord: FakeDiscord,
                                                                      standin_bot: Any) -> None:
    client, orch = await standin_bot()

    async def handler(request: Any, progress: Any) -> Reply:
        raise RuntimeError("boom")

    orch.handler = handler
    await fake_discord.say("break", mention=True)
    tid = await first_thread(fake_discord)
    [answer] = await fake_discord.wait_for(lambda: fake_discord.bot_messages(tid))
    assert answer["content"].startswith("⚠️") and "went wrong" in answer["content"]


async def test_attachments_are_type_and_size_checked(fake_discord: FakeDiscord, standin_bot: Any) -> None:
    client, orch = await standin_bot(max_file_mb=1)
    await fake_discord.say("files", mention=True, files=[
        ("ok.png", PNG, "image/png"),
        ("tool.exe", b"MZ" + b"\0" * 10, "application/x-msdownload"),
        ("big.wav", b"\0" * (1024 * 1024 + 1), "audio/wav"),
    ])
    tid = await first_thread(fake_discord)
    [answer] = await fake_discord.wait_for(lambda: fake_discord.bot_messages(tid))
    assert [a.filename for a in orch.requests[0].attachments] == ["ok.png"]
    assert "tool.exe" in answer["content"] and "big.wav" in answer["content"]
    cdn = [c.path for c in fake_discord.calls if c.path.startswith("/cdn/")]
    assert len(cdn) == 1  # the refused files were never downloaded


# ---- slash command -------------------------------------------------------------------------------------


async def test_slash_command_is_synced_deferred_first_and_answered_in_a_thread(
        fake_discord: FakeDiscord, standin_bot: Any) -> None:
    client, orch = await standin_bot()
    assert [c["name"] for c in fake_discord.synced_commands] == ["hgbot"]
    options = {o["name"]: o for o in fake_discord.synced_commands[0]["options"]}
    assert options["request"]["required"] and not options["file"].get("required", False)
    orch.handler = reply_with("A fox, drawn.")
    interaction = await fake_discord.slash("draw a fox", file=("ref.png", PNG, "image/png"))
    tid = await first_thread(fake_discord)
    await fake_discord.wait_for(lambda: fake_discord.bot_messages(tid))
    after_event = [c for c in fake_discord.calls if c.path.startswith(("/interactions", "/webhooks", "/channels",
                                                                        "/cdn"))]
    assert after_event[0].path == f"/interactions/{interaction['id']}/{interaction['token']}/callback"
    assert [c["type"] for c in fake_discord.interaction_callbacks] == [5]  # deferred, "hgbot is thinking…"
    original = fake_discord.messages[tid]  # the thread hangs on the completed interaction response
    assert "draw a fox" in original["content"] and "ref.png" in original["content"]
    [request] = orch.requests
    assert request.conversation == ConversationKey("discord", str(GUILD_ID), str(CHANNEL_ID), str(tid))
    assert [a.filename for a in request.attachments] == ["ref.png"]
    assert fake_discord.bot_messages(tid)[-1]["content"] == "A fox, drawn."


# ---- transport: resume, rate limits, endpoints ----------------------------------------------------------


async def test_resume_after_a_drop_loses_nothing_and_answers_once(fake_discord: FakeDiscord,
                                                                  standin_bot: Any) -> None:
    client, orch = await standin_bot()
    await fake_discord.say("first", mention=True)
    tid = await first_thread(fake_discord)
    await fake_discord.wait_for(lambda: fake_discord.bot_messages(tid))
    await fake_discord.drop(code=4000, replay_before=1)  # the resume will resend "first" as well
    await fake_discord.say("second", channel_id=tid)  # sent while the client is away
    await fake_discord.wait_for(lambda: len(fake_discord.bot_messages(tid)) >= 2)
    await asyncio.sleep(0.3)  # room for a doubled answer to show up
    assert [c.path for c in fake_discord.connections] == ["/gateway", "/resume"]
    resume = fake_discord.connections[1].resume
    assert resume is not None and resume["token"] == TOKEN and resume["seq"] > 0
    assert fake_discord.connections[1].identify is None  # resumed, not a new session
    assert [e[2]["content"] for e in fake_discord.replayed
            if e[1] == "MESSAGE_CREATE" and e[2]["author"]["id"] != str(BOT_ID)] == [
        f"<@{BOT_ID}> first", "second"]  # "first" came twice, "second" only after the resume
    assert [r.text for r in orch.requests] == ["first", "second"]
    assert len(fake_discord.bot_messages(tid)) == 2


async def test_a_429_is_waited_out_and_the_answer_sent_once(fake_discord: FakeDiscord, standin_bot: Any) -> None:
    client, orch = await standin_bot()
    fake_discord.rate_limit("POST", r"^/channels/\d+/messages$", retry_after=0.3)
    await fake_discord.say("hello", mention=True)
    tid = await first_thread(fake_discord)
    await fake_discord.wait_for(lambda: fake_discord.bot_messages(tid))
    posts = fake_discord.requests("POST", rf"^/channels/{tid}/messages$")
    assert [c.status for c in posts] == [429, 200]
    assert posts[1].at - posts[0].at >= 0.29
    assert len(fake_discord.bot_messages(tid)) == 1


def test_endpoints_rewrite_only_discord_urls() -> None:
    ep = Endpoints("http://127.0.0.1:9/api/v10", "ws://127.0.0.1:9/gateway")
    assert ep.rest("https://discord.com/api/v10/users/@me") == "http://127.0.0.1:9/api/v10/users/@me"
    assert ep.rest("http://127.0.0.1:9/cdn/1/a.png") == "http://127.0.0.1:9/cdn/1/a.png"
    assert ep.gateway("wss://gateway.discord.gg/?v=10&encoding=json") == "ws://127.0.0.1:9/gateway?v=10&encoding=json"
    # a resume URL the proxy/fake handed out is honoured; a regional Discord one is not
    assert ep.gateway("ws://127.0.0.1:9/resume?v=10") == "ws://127.0.0.1:9/resume?v=10"
    assert ep.gateway("wss://gateway-us-east1-b.discord.gg?v=10").startswith("ws://127.0.0.1:9/gateway")
    assert Endpoints().rest("https://discord.com/api/v10/x") == "https://discord.com/api/v10/x"


async def test_overrides_stay_with_the_client(fake_discord: FakeDiscord, standin_bot: Any) -> None:
    await standin_bot()
    assert Route.BASE == "https://discord.com/api/v10"
    assert DiscordWebSocket.DEFAULT_GATEWAY == yarl.URL("wss://gateway.discord.gg/")
    assert fake_discord.connections[0].identify is not None
    intents = discord.Intents._from_value(fake_discord.connections[0].identify["intents"])
    assert intents.message_content and intents.guild_messages and intents.dm_messages


def test_invite_url_has_the_scopes_and_permissions_used() -> None:
    url = yarl.URL(invite_url(str(BOT_ID)))
    assert url.query["client_id"] == str(BOT_ID)
    assert url.query["scope"].split() == ["bot", "applications.commands"]
    perms = discord.Permissions(int(url.query["permissions"]))
    assert perms.send_messages_in_threads and perms.create_public_threads and perms.attach_files
    assert not perms.administrator and not perms.mention_everyone


def test_application_id_from_token() -> None:
    assert application_id_from_token(TOKEN) == str(BOT_ID)
    with pytest.raises(ConfigError):
        application_id_from_token("not-a-token")


def test_thread_names_are_the_first_line_within_100_characters() -> None:
    from adapters.discord.render import thread_name

    assert thread_name(f"<@{BOT_ID}> draw a cat\nwith a hat") == "draw a cat"
    assert len(thread_name("x" * 300)) == 100
    assert thread_name("   ") == "hgbot"
