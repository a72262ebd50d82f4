"""Issue 13 through the whole App without an LLM: the file of *this* message, the previous answer as
"it", and an honest error for a task nothing here runs (fake model backend, real planner and store)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.types import Attachment, ConversationKey, Request
from tests.fakes import hostile_media
from tests.fakes.backends import FakeBackend, png_bytes, wav_bytes


def card(mid: str, task: str) -> dict[str, Any]:
    return {"id": mid, "task": task, "backend": "fake", "size": 1000, "description": "test"}


KEY = ConversationKey("test", "w", "sign-channel", "")


@pytest.mark.slow  # loads the planner's MiniLM (about 2 s)
async def test_sign_after_a_voice_memo_then_say_it_out_loud(make_app: Any, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("asr", "automatic-speech-recognition"), card("ocr", "image-to-text"),
                                  card("tts", "text-to-speech")],
                         llm_base_url="", llm_api_key="", local_llm="none", fast_path=True)
    memo = await app.orchestrator.handle(Request(KEY, "transcribe this", (Attachment("memo.wav", wav_bytes()),)))
    assert memo.ok and memo.runs[0].task == "automatic-speech-recognition"

    sign = await app.orchestrator.handle(Request(KEY, "what does this sign say?", (Attachment("sign.png", png_bytes()),)))
    assert sign.ok, sign.text
    assert [r.task for r in sign.runs] == ["image-to-text"]  # not the old memo's transcript
    conv = await app.store.conversation(KEY)
    png = next(a for a in await app.store.artifacts(conv) if a.filename == "sign.png")
    assert sign.plan is not None and sign.plan.tasks[0].wire_args() == {"image": png.handle}

    spoken = await app.orchestrator.handle(Request(KEY, "now say it out loud"))
    assert spoken.ok and [r.task for r in spoken.runs] == ["text-to-speech"]
    assert spoken.plan is not None and spoken.plan.tasks[0].wire_args()["text"] == sign.text.strip()

    missing = await app.orchestrator.handle(Request(KEY, "translate 'good morning' into French"))
    assert missing.error is not None and "translation can't run here" in missing.text
    assert not missing.runs  # nothing ran


@pytest.mark.slow  # loads the planner's MiniLM (about 2 s)
async def test_a_video_is_transcribed_through_its_audio_track(make_app: Any, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("asr", "automatic-speech-recognition")],
                         llm_base_url="", llm_api_key="", local_llm="none", fast_path=True)
    mp4 = hostile_media.mp4()  # a real (tiny) video: the intake probes it before any model sees it
    reply = await app.orchestrator.handle(Request(ConversationKey("test", "w", "video", ""),
                                                  "transcribe the dialogue in this video",
                                                  (Attachment("talk.mp4", mp4),)))
    assert reply.ok, reply.text
    assert [r.task for r in reply.runs] == ["automatic-speech-recognition"]
    assert "audio=" in reply.runs[0].texts[0] and ".mp4" in reply.runs[0].texts[0]  # the model got the video file


@pytest.mark.slow  # loads the planner's MiniLM (about 2 s)
@pytest.mark.parametrize(("text", "want"), [("classify the first image", "a.png"), ("classify the second image", "b.png"),
                                            ("classify the 2nd picture", "b.png")])
async def test_an_ordinal_names_this_messages_files_in_the_order_sent(make_app: Any, fake_backend: FakeBackend,
                                                                      text: str, want: str) -> None:
    """The store lists artifacts newest first; the planners must still see this message's files in
    the order sent, or "the first image" of two reads the second (found through `hgbot ask`)."""
    app = await make_app(catalog=[card("cls", "image-classification")],
                         llm_base_url="", llm_api_key="", local_llm="none", fast_path=True)
    key = ConversationKey("test", "w", "two-images", "")
    reply = await app.orchestrator.handle(Request(key, text, (Attachment("a.png", png_bytes()),
                                                              Attachment("b.png", png_bytes("blue")))))
    assert reply.ok and reply.plan is not None, reply.text
    conv = await app.store.conversation(key)
    chosen = next(a for a in await app.store.artifacts(conv) if a.filename == want)
    assert reply.plan.tasks[0].wire_args() == {"image": chosen.handle}
