"""Issue 13 point 2 through the whole App without an LLM: speech of *this* message's picture ("read
this out to me" reads the photo first), a reference back to an earlier text ("that first note") gets
that text, and the summary says truthfully where each input came from (fake models, real planner)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.types import Attachment, ConversationKey, Generated, Reply, Request
from tests.fakes.backends import FakeBackend, png_bytes


def card(mid: str, task: str) -> dict[str, Any]:
    return {"id": mid, "task": task, "backend": "fake", "size": 1000, "description": "test"}


def spoken_text(reply: Reply) -> str:
    assert reply.ok and reply.plan is not None, reply.text
    assert [t.task for t in reply.plan.tasks] == ["text-to-speech"], reply.plan.to_json()
    return str(reply.plan.tasks[0].args["text"])


@pytest.mark.slow  # loads the planner's MiniLM (about 2 s)
async def test_read_this_out_and_that_first_note(make_app: Any, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("ocr", "image-to-text"), card("tts", "text-to-speech")],
                         llm_base_url="", llm_api_key="", local_llm="none", fast_path=True)
    key = ConversationKey("test", "w", "notes", "")

    async def ask(text: str, *files: tuple[str, bytes]) -> Reply:
        return await app.orchestrator.handle(Request(key, text, tuple(Attachment(n, b) for n, b in files)))

    notes = await ask("read both notes", ("a.png", png_bytes("red")), ("b.png", png_bytes("blue")))
    assert notes.ok and [r.task for r in notes.runs] == ["image-to-text", "image-to-text"], notes.text
    first, second = notes.runs[0].texts[0], notes.runs[1].texts[0]
    assert first != second

    # the first text output, not the words "that first note" nor the whole reply around both
    assert spoken_text(await ask("turn that first note into speech please")) == first
    # a turn that only spoke lies in between: the reference still reaches the texts before it
    assert spoken_text(await ask("read the second one out loud")) == second

    sign = await ask("read this out to me", ("sign.png", png_bytes("green")))
    assert sign.ok and sign.plan is not None, sign.text
    assert [t.task for t in sign.plan.tasks] == ["image-to-text", "text-to-speech"]  # not "this out", not `second`
    conv = await app.store.conversation(key)
    png = next(a for a in await app.store.artifacts(conv) if a.filename == "sign.png")
    assert sign.plan.tasks[0].wire_args() == {"image": png.handle}
    assert sign.plan.tasks[1].args["text"] == Generated(1)
    # the summary: the picture came with this message, the speech is the bot's own, from step 1's text
    assert "on the image you attached" in sign.text and "on the text from step 1: audio, sent with this reply" in sign.text
    assert "attached audio" not in sign.text
