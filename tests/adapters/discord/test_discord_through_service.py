"""The Discord adapter driven through the chat-service port alone: a fake service, no App, no store."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bot.config import Settings
from orchestrator.jobtypes import JobState
from orchestrator.types import Artifact, Reply
from tests.adapters.discord.conftest import _shut, _start
from tests.adapters.discord.fake_discord import TOKEN, FakeDiscord
from tests.fakes.chat_service import FakeChatService


async def test_a_mention_becomes_one_job_answered_from_the_service(fake_discord: FakeDiscord, tmp_path: Path) -> None:
    service = FakeChatService(answer=lambda request: Reply(text=f"you said {request.text!r}"))
    host = SimpleNamespace(settings=Settings(home=tmp_path, discord_token=TOKEN, discord_api_base=fake_discord.api_base,
                                             discord_gateway_url=fake_discord.gateway_url), service=service)
    running: list[Any] = []
    try:
        await _start(host, fake_discord, running)
        await fake_discord.say("hello there", mention=True)
        [thread] = await fake_discord.wait_for(fake_discord.threads)
        await fake_discord.wait_for(lambda: any("you said 'hello there'" in m["content"]
                                                for m in fake_discord.bot_messages(int(thread["id"]))))
        [request] = service.requests
        assert request.conversation.platform == "discord" and request.conversation.thread == thread["id"]
        assert service.fake_jobs is not None
        [job] = service.fake_jobs.records.values()
        assert job.state is JobState.DONE and job.text == "hello there"
    finally:
        await _shut(running)


async def test_generated_files_are_uploaded_from_the_service_not_the_disk(fake_discord: FakeDiscord,
                                                                          tmp_path: Path) -> None:
    """A replica may not hold a file another one made: uploads read bytes through the port."""
    made = Artifact(id="k3j9x0q2ab", conversation_id=1, kind="image", mime="image/png",
                    path=tmp_path / "not-on-this-host.png", size=11, task="text-to-image", model="m",
                    filename="picture.png")
    service = FakeChatService(answer=lambda request: Reply(text="here it is", artifacts=(made,)),
                              files={made.id: b"\x89PNG bytes!"})
    host = SimpleNamespace(settings=Settings(home=tmp_path, discord_token=TOKEN, discord_api_base=fake_discord.api_base,
                                             discord_gateway_url=fake_discord.gateway_url), service=service)
    running: list[Any] = []
    try:
        await _start(host, fake_discord, running)
        await fake_discord.say("draw something", mention=True)
        uploads = await fake_discord.wait_for(lambda: [f for c in fake_discord.calls for f in c.files])
        assert [(name, data) for _, name, data in uploads] == [("picture.png", b"\x89PNG bytes!")]
        assert service.read == [made.id] and not made.path.exists()
    finally:
        await _shut(running)
