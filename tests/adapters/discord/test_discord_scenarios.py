"""Whole requests from Discord: the real discord.py client, the real App, a fake Discord and a scripted LLM.

The image task is the real Pillow ``hgbot/image-edit`` model, so the files that come back are checked
by their pixels, not only by their presence.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from typing import Any

import pytest
from PIL import Image

from orchestrator.errors import ConfigError
from orchestrator.types import ConversationKey
from tests.adapters.discord.fake_discord import (
    BOT_ID,
    CHANNEL_ID,
    GUILD_ID,
    OTHER_CHANNEL_ID,
    FakeDiscord,
)
from tests.fakes.llm_server import FakeLLMServer, HttpError


def png(color: tuple[int, int, int], size: tuple[int, int] = (24, 16)) -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", size, color)
    img.putpixel((0, 0), (255, 255, 255))  # a marker pixel, to tell a flip from the original
    img.save(buf, format="PNG")
    return buf.getvalue()


def edit_plan(text: str, pick: int = 0) -> Any:
    """A planning answer that edits the ``pick``-th artifact handle offered to the planner (newest first)."""

    def plan(request: dict[str, Any]) -> dict[str, Any]:
        handles = FakeLLMServer.handles(request)
        return {"tasks": [{"id": 1, "task": "image-to-image", "deps": [], "args": {"image": handles[pick], "text": text}}]}

    return plan


def uploaded_images(fake: FakeDiscord, channel_id: int) -> list[Image.Image]:
    return [Image.open(io.BytesIO(data)) for c in fake.requests("POST", rf"^/channels/{channel_id}/messages$")
            if c.status == 200 for _, _, data in c.files]


def is_gray(img: Image.Image) -> bool:
    rgb = img.convert("RGB")
    width, height = rgb.size
    pixels = [rgb.getpixel((x, y)) for x in range(width) for y in range(height)]
    return all(p[0] == p[1] == p[2] for p in pixels)  # type: ignore[index]


async def answered(fake: FakeDiscord, channel_id: int, count: int) -> list[dict[str, Any]]:
    """Wait until hgbot has posted ``count`` messages in the channel; they, oldest first."""
    return await fake.wait_for(lambda: len(fake.bot_messages(channel_id)) >= count and fake.bot_messages(channel_id))


async def test_mention_with_an_image_answers_with_an_image_and_text_in_a_new_thread(
        fake_discord: FakeDiscord, discord_bot: Any, fake_llm: FakeLLMServer) -> None:
    await discord_bot()
    fake_llm.script(edit_plan("make it grayscale"), "Here is your cat in grayscale.")
    msg = await fake_discord.say("make this grayscale", mention=True, files=[("cat.png", png((200, 40, 40)), "image/png")])
    [thread] = await fake_discord.wait_for(fake_discord.threads)
    tid = int(thread["id"])
    assert tid == int(msg["id"]) and thread["parent_id"] == str(CHANNEL_ID)

    progress, text, image = await answered(fake_discord, tid, 3)
    assert "image-to-image" in progress["content"] and "✅" in progress["content"]
    assert text["content"] == "Here is your cat in grayscale."
    assert "image-to-image" in image["content"] and "hgbot/image-edit" in image["content"]  # the label
    [out] = uploaded_images(fake_discord, tid)
    assert is_gray(out) and out.size == (24, 16)
    # the planner saw the attachment as an artifact of this conversation
    [planning] = fake_llm.planning_requests()
    assert len(FakeLLMServer.handles(planning)) == 1


async def test_a_follow_up_in_the_thread_reuses_the_first_artifact_and_no_other_thread_sees_it(
        fake_discord: FakeDiscord, discord_bot: Any, fake_llm: FakeLLMServer) -> None:
    await discord_bot()
    fake_llm.script(edit_plan("make it grayscale"), "Grayscale done.")
    await fake_discord.say("grayscale please", mention=True, files=[("cat.png", png((10, 200, 10)), "image/png")])
    tid = int((await fake_discord.wait_for(fake_discord.threads))[0]["id"])
    await answered(fake_discord, tid, 3)

    # no file and no mention: the thread is the conversation, the newest artifact is the grayscale cat
    fake_llm.script(edit_plan("flip it horizontally"), "Flipped.")
    await fake_discord.say("now flip it horizontally", channel_id=tid)
    await answered(fake_discord, tid, 6)
    first, flipped = uploaded_images(fake_discord, tid)
    assert is_gray(flipped)  # made from the first turn's output, not from the green original
    assert flipped.convert("RGB").getpixel((23, 0)) == first.convert("RGB").getpixel((0, 0))
    follow_up = fake_llm.planning_requests()[1]
    assert len(FakeLLMServer.handles(follow_up)) == 2  # the upload and the generated image of this thread

    # another channel's conversation sees none of them
    fake_llm.script({"tasks": []}, "Hello.")
    other = await fake_discord.say("hello", mention=True, channel_id=OTHER_CHANNEL_ID)
    await answered(fake_discord, int(other["id"]), 1)
    assert FakeLLMServer.handles(fake_llm.planning_requests()[2]) == []


async def test_slash_command_is_deferred_then_answered_in_a_thread(
        fake_discord: FakeDiscord, discord_bot: Any, fake_llm: FakeLLMServer) -> None:
    client = await discord_bot()
    assert [c["name"] for c in fake_discord.synced_commands] == ["hgbot"]
    fake_llm.script(edit_plan("grayscale"), "Done, see the image.")
    interaction = await fake_discord.slash("make it grayscale", file=("dog.png", png((30, 30, 220)), "image/png"))
    tid = int((await fake_discord.wait_for(fake_discord.threads))[0]["id"])
    progress, text, image = await answered(fake_discord, tid, 3)

    first = next(c for c in fake_discord.calls if interaction["token"] in c.path)
    assert first.path.endswith("/callback") and first.json["type"] == 5  # deferred before any other work
    original = fake_discord.messages[tid]  # the thread hangs on the completed interaction response
    assert "make it grayscale" in original["content"] and "dog.png" in original["content"]
    assert text["content"] == "Done, see the image."
    [out] = uploaded_images(fake_discord, tid)
    assert is_gray(out)
    conversation = ConversationKey("discord", str(GUILD_ID), str(CHANNEL_ID), str(tid))
    assert str(conversation) == f"discord/{GUILD_ID}/{CHANNEL_ID}/{tid}"
    assert client.user is not None and client.user.id == BOT_ID


async def test_a_2500_character_answer_is_split_in_two(
        fake_discord: FakeDiscord, discord_bot: Any, fake_llm: FakeLLMServer) -> None:
    await discord_bot()
    answer = "\n\n".join(f"Paragraph {i}: " + ("lorem ipsum dolor sit amet " * 8).strip() for i in range(11))
    assert 2400 < len(answer) < 2600
    fake_llm.script({"tasks": []}, answer)
    await fake_discord.say("tell me a long story", mention=True)
    tid = int((await fake_discord.wait_for(fake_discord.threads))[0]["id"])
    parts = await answered(fake_discord, tid, 2)
    await asyncio.sleep(0.2)
    assert len(fake_discord.bot_messages(tid)) == 2
    assert all(len(p["content"]) <= 2000 for p in parts)
    assert "\n\n".join(p["content"] for p in parts) == answer  # split at a paragraph, nothing lost


async def test_gateway_drop_and_resume_neither_loses_nor_doubles_a_reply(
        fake_discord: FakeDiscord, discord_bot: Any, fake_llm: FakeLLMServer) -> None:
    await discord_bot()
    fake_llm.script({"tasks": []}, "One.", {"tasks": []}, "Two.")
    await fake_discord.say("first", mention=True)
    tid = int((await fake_discord.wait_for(fake_discord.threads))[0]["id"])
    await answered(fake_discord, tid, 1)
    await fake_discord.drop(code=4000, replay_before=1)  # Discord resends "first" after the resume
    await fake_discord.say("second", channel_id=tid)  # arrives while the client is away
    await answered(fake_discord, tid, 2)
    await asyncio.sleep(0.3)  # room for a doubled reply to appear
    assert [m["content"] for m in fake_discord.bot_messages(tid)] == ["One.", "Two."]
    assert [c.path for c in fake_discord.connections] == ["/gateway", "/resume"]
    assert len(fake_llm.planning_requests()) == 2


async def test_a_429_from_discord_is_honoured(
        fake_discord: FakeDiscord, discord_bot: Any, fake_llm: FakeLLMServer) -> None:
    await discord_bot()
    fake_llm.script({"tasks": []}, "Patience pays.")
    fake_discord.rate_limit("POST", r"^/channels/\d+/messages$", retry_after=0.4)
    started = time.monotonic()
    await fake_discord.say("hi", mention=True)
    tid = int((await fake_discord.wait_for(fake_discord.threads))[0]["id"])
    [reply] = await answered(fake_discord, tid, 1)
    assert reply["content"] == "Patience pays."
    posts = fake_discord.requests("POST", rf"^/channels/{tid}/messages$")
    assert [c.status for c in posts] == [429, 200]
    assert posts[1].at - posts[0].at >= 0.39 and time.monotonic() - started >= 0.4


async def test_a_failing_job_ends_in_a_readable_error_in_the_thread(
        fake_discord: FakeDiscord, discord_bot: Any, fake_llm: FakeLLMServer) -> None:
    await discord_bot()
    fake_llm.script(HttpError(500, {"error": {"message": "upstream exploded"}}))
    await fake_discord.say("do something", mention=True)
    tid = int((await fake_discord.wait_for(fake_discord.threads))[0]["id"])
    [reply] = await answered(fake_discord, tid, 1)
    assert reply["content"].startswith("⚠️ ")
    assert "Traceback" not in reply["content"] and len(reply["content"]) > 20


async def test_serve_discord_runs_until_cancelled(fake_discord: FakeDiscord, make_app: Any,
                                                  fake_llm: FakeLLMServer) -> None:
    from adapters.discord import serve_discord
    from tests.adapters.discord.fake_discord import TOKEN

    app = await make_app(catalog=[], discord_token=TOKEN, discord_api_base=fake_discord.api_base,
                         discord_gateway_url=fake_discord.gateway_url)
    task = asyncio.create_task(serve_discord(app))
    await fake_discord.wait_for(lambda: any(c.identify for c in fake_discord.connections) or task.done())
    fake_llm.script({"tasks": []}, "Served.")
    await fake_discord.say("are you there?", mention=True)
    tid = int((await fake_discord.wait_for(fake_discord.threads))[0]["id"])
    [reply] = await answered(fake_discord, tid, 1)
    assert reply["content"] == "Served."
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_serve_discord_without_a_token_says_what_to_do(make_app: Any) -> None:
    from adapters.discord import serve_discord

    app = await make_app(catalog=[])
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        await serve_discord(app)


async def test_after_a_restart_a_plain_message_in_a_users_thread_hgbot_joined_is_answered(
        fake_discord: FakeDiscord, discord_bot: Any, fake_llm: FakeLLMServer, tmp_path: Any) -> None:
    home = tmp_path / "shared-home"
    first = await discord_bot(home=home)
    tid = await fake_discord.user_thread("planning")
    fake_llm.script({"tasks": []}, "Hi, I'm here.")
    await fake_discord.say("hello there", channel_id=tid, mention=True)
    await fake_discord.wait_for(lambda: any("Hi, I'm here." in m["content"] for m in fake_discord.bot_messages(tid)))
    await first.close()

    await discord_bot(home=home)  # a new process on the same database
    fake_llm.script({"tasks": []}, "Still here.")
    await fake_discord.say("are you still there?", channel_id=tid)  # no mention
    await fake_discord.wait_for(lambda: any("Still here." in m["content"] for m in fake_discord.bot_messages(tid)))
