"""Whole requests through the real App (store, planner, selector, executor, responder) with the
LLM scripted on a local HTTP server and a fake model backend at the model edge."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.types import Attachment, ConversationKey, EventType, ProgressEvent, Request, RunStatus
from tests.fakes.backends import FakeBackend, content_id, png_bytes
from tests.fakes.llm_server import FakeLLMServer


def card(mid: str, task: str, **options: Any) -> dict[str, Any]:
    return {"id": mid, "task": task, "backend": "fake", "size": 1000, "options": options, "description": "test"}


def key(channel: str = "c1") -> ConversationKey:
    return ConversationKey("test", "w", channel, "")


def t(i: int, task: str, deps: list[int] | None = None, **args: str) -> dict[str, Any]:
    return {"id": i, "task": task, "deps": deps or [], "args": args, "model": None}


async def test_independent_branches_run_concurrently(make_app: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("slow-img", "text-to-image", sleep=0.6), card("slow-tts", "text-to-speech", sleep=0.6),
                                  card("cap", "image-to-text")])
    fake_llm.script({"tasks": [t(1, "text-to-image", text="a cat"), t(2, "text-to-speech", text="hello"),
                               t(3, "image-to-text", [1], image="<GENERATED>-1")]}, "Done: a cat picture, audio, caption.")
    events: list[ProgressEvent] = []

    async def progress(e: ProgressEvent) -> None:
        events.append(e)

    reply = await app.orchestrator.handle(Request(key(), "draw a cat, say hello, caption the cat"), progress)
    assert reply.ok, reply.text
    r1, r2, r3 = reply.runs
    assert all(r.status is RunStatus.OK for r in reply.runs)
    # Branches 1 and 2 overlap in time; 3 starts only after 1 ends.
    assert r1.started_at < r2.finished_at and r2.started_at < r1.finished_at  # type: ignore[operator]
    assert r3.started_at >= r1.finished_at  # type: ignore[operator]
    busy = (r1.finished_at - r1.started_at) + (r2.finished_at - r2.started_at)  # type: ignore[operator]
    span = max(r1.finished_at, r2.finished_at) - min(r1.started_at, r2.started_at)  # type: ignore[type-var,operator]
    assert span < busy * 0.75  # 0.6 s + 0.6 s of work ran side by side, not one after the other
    assert "from image=" in r3.texts[0]
    assert reply.llm_calls == 2  # plan + answer, whatever the graph size
    assert events[0].type is EventType.PLANNED and events[-1].type is EventType.DONE
    live = [r.status for e in events if e.type is EventType.TASK for r in e.runs]
    assert RunStatus.RUNNING in live and RunStatus.OK in live  # progress shows real states, not "queued"
    assert {a.kind for a in reply.artifacts} == {"image", "audio"}
    assert all(a.path.is_file() for a in reply.artifacts)


async def test_failing_model_falls_back_to_next_candidate(make_app: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("broken", "summarization", fail=True), card("no-weights", "summarization", load_fail=True),
                                  card("works", "summarization")])
    fake_llm.script({"tasks": [t(1, "summarization", text="long text")]})
    reply = await app.orchestrator.handle(Request(key(), "summarize this"))
    run = reply.runs[0]
    assert run.status is RunStatus.OK and run.model == "works"
    assert "broken failed: broken exploded" in (run.error or "") and "no weights" in (run.error or "")
    assert reply.text.startswith("summarization by works")  # single text answer: no responder LLM call
    assert reply.llm_calls == 1


async def test_failed_task_skips_only_its_dependents(make_app: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("bad-img", "text-to-image", fail=True), card("cap", "image-to-text"),
                                  card("tts", "text-to-speech")])
    fake_llm.script({"tasks": [t(1, "text-to-image", text="x"), t(2, "image-to-text", [1], image="<GENERATED>-1"),
                               t(3, "text-to-speech", text="independent")]}, "Partly done.")
    reply = await app.orchestrator.handle(Request(key(), "x"))
    assert [r.status for r in reply.runs] == [RunStatus.FAILED, RunStatus.SKIPPED, RunStatus.OK]
    assert "task 1 (text-to-image) failed" in (reply.runs[1].error or "")
    assert reply.ok and len(reply.artifacts) == 1
    runs = await app.store.recent_runs(None, 1)
    assert runs[0].status == "partial"


async def test_a_request_whose_every_step_failed_is_not_answered(make_app: Any, fake_llm: FakeLLMServer,
                                                                 fake_backend: FakeBackend) -> None:
    """The answer explains the failure, but the reply is an error: `hgbot ask` exits 1, --json says so."""
    app = await make_app(catalog=[card("bad-img", "text-to-image", fail=True)])
    fake_llm.script({"tasks": [t(1, "text-to-image", text="x")]}, {"tasks": []}, "It could not be drawn.")
    reply = await app.orchestrator.handle(Request(key(), "draw x"))
    assert [r.status for r in reply.runs] == [RunStatus.FAILED]
    assert not reply.ok and "bad-img exploded" in (reply.error or "")


async def test_second_request_uses_first_artifact_and_other_channels_cannot(
        make_app: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("gen", "text-to-image"), card("cap", "image-to-text")])
    fake_llm.script({"tasks": [t(1, "text-to-image", text="a red square")]}, "Here it is.")
    first = await app.orchestrator.handle(Request(key("c1"), "make a red square"))
    made = first.artifacts[0]

    def caption_latest(req: dict[str, Any]) -> dict[str, Any]:
        return {"tasks": [t(1, "image-to-text", image=FakeLLMServer.handles(req)[0])]}

    fake_llm.script(caption_latest, "It is a red square.")
    second = await app.orchestrator.handle(Request(key("c1"), "now caption the image you just made"))
    assert second.ok and content_id(made.path.read_bytes()) in second.runs[0].texts[0]

    # In another channel the same handle is not offered, and a plan naming it is refused (after one repair turn).
    fake_llm.script({"tasks": [t(1, "image-to-text", image=made.handle)]}, {"tasks": [t(1, "image-to-text", image=made.handle)]})
    other = await app.orchestrator.handle(Request(key("c2"), "caption that image"))
    assert other.error and "not an artifact of this conversation" in other.text
    c2_prompt = fake_llm.planning_requests()[-2]["messages"][-1]["content"]
    assert "Earlier files of this conversation (newest first):\nnone" in c2_prompt and made.handle not in c2_prompt
    assert other.llm_calls == 2


async def test_malformed_plan_is_repaired_once_then_reported(make_app: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("cap", "image-to-text")])
    fake_llm.script("{not json", {"tasks": [t(1, "image-to-text", image="artifact:")]})
    reply = await app.orchestrator.handle(Request(key(), "caption"))
    assert reply.error and "could not turn your request into a valid plan" in reply.text
    assert reply.llm_calls == 2 and len(fake_llm.requests) == 2
    runs = await app.store.recent_runs(None, 1)
    assert runs[0].status == "error" and "valid plan" in (runs[0].error or "")


async def test_attachment_is_stored_and_planned_with(make_app: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("cap", "image-to-text")])
    fake_llm.script(lambda req: {"tasks": [t(1, "image-to-text", image=FakeLLMServer.handles(req)[0])]})
    reply = await app.orchestrator.handle(Request(key(), "what is this?", (Attachment("photo.png", png_bytes()),)))
    assert reply.ok and "image=" in reply.runs[0].texts[0]
    conv = await app.store.conversation(key())
    assert [a.filename for a in await app.store.artifacts(conv)] == ["photo.png"]


async def test_bad_attachment_is_a_readable_error(make_app: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("cap", "image-to-text")])
    page = b"<!DOCTYPE html><html><body>Sign in to Slack</body></html>"
    reply = await app.orchestrator.handle(Request(key(), "what is this?", (Attachment("photo.png", page),)))
    assert reply.error and "web page" in reply.text and not fake_llm.requests


async def test_unreachable_llm_is_a_readable_error(make_app: Any, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("cap", "image-to-text")], llm_base_url="http://127.0.0.1:9/v1")
    reply = await app.orchestrator.handle(Request(key(), "hello"))
    assert reply.error and "Cannot reach the LLM" in reply.text


async def test_same_delivery_is_processed_once(make_app: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("cap", "image-to-text")])
    fake_llm.script({"tasks": []}, "hi!")
    first = await app.orchestrator.handle(Request(key(), "hello", delivery_id="evt-1"))
    again = await app.orchestrator.handle(Request(key(), "hello", delivery_id="evt-1"))
    assert first.text == "hi!" and again.duplicate and len(fake_llm.requests) == 2


async def test_task_without_any_model_is_answered_honestly_not_crashed(make_app: Any, fake_llm: FakeLLMServer,
                                                                        fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("cap", "image-to-text"), card("tts", "text-to-speech")])
    fake_llm.script({"tasks": [t(1, "text-to-video", text="a dancing cat"), t(2, "text-to-speech", text="hi")]},
                    {"tasks": []}, "Sorry, no video model.")  # the re-plan finds nothing else to do
    reply = await app.orchestrator.handle(Request(key(), "make a video and say hi"))
    # Could not be answered: one line saying what cannot run and what would enable it; nothing else ran.
    assert not reply.ok and reply.error == reply.text
    assert reply.text.startswith("text-to-video can't run here") and len(reply.text.splitlines()) == 1
    assert "hgbot models pull" in reply.text and "catalog entry" in reply.text
    assert "OPENAI_BASE_URL" not in reply.text  # an endpoint is configured already
    assert reply.runs == () and not fake_backend.loads  # nothing ran; the plan shows what would have
    assert reply.plan is not None and [p.task for p in reply.plan.tasks] == ["text-to-video", "text-to-speech"]
    assert len(fake_llm.requests) == 2  # the plan and its one re-plan; no answer call for a request that cannot run


async def test_turns_of_one_conversation_run_in_order(make_app: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend) -> None:
    import asyncio

    app = await make_app(catalog=[card("gen", "text-to-image", sleep=0.3), card("cap", "image-to-text")])
    seen: list[list[str]] = []

    def plan_or_reply(req: dict[str, Any]) -> dict[str, Any] | str:
        if not req.get("response_format"):
            return "ok"
        seen.append(FakeLLMServer.handles(req))
        if len(seen) == 1:
            return {"tasks": [t(1, "text-to-image", text="a square")]}
        return {"tasks": [t(1, "image-to-text", image=seen[-1][0])]}

    fake_llm.script(*[plan_or_reply] * 4)
    first = asyncio.create_task(app.orchestrator.handle(Request(key(), "draw a square")))
    await asyncio.sleep(0.05)
    second = await app.orchestrator.handle(Request(key(), "caption the image you just made"))
    made = (await first).artifacts[0]
    assert seen[1] == [made.handle] and second.ok  # the follow-up waited and saw the new image


@pytest.mark.slow
async def test_llm_down_a_task_request_is_still_planned_and_answered(make_app: Any, fake_backend: FakeBackend) -> None:
    from tests.fakes.backends import wav_bytes

    app = await make_app(catalog=[card("asr", "automatic-speech-recognition")], llm_base_url="http://127.0.0.1:9/v1")
    reply = await app.orchestrator.handle(Request(key(), "transcribe this recording",
                                                  (Attachment("memo.wav", wav_bytes(0.5)),)))
    assert reply.ok, reply.text
    assert reply.plan is not None and reply.plan.source == "embedded (LLM unavailable)"
    assert [r.task for r in reply.runs] == ["automatic-speech-recognition"] and reply.runs[0].status is RunStatus.OK
    assert reply.text.startswith("automatic-speech-recognition by asr")  # the result itself, no LLM needed


async def test_a_repaired_plan_still_costs_two_llm_calls(make_app: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("gen", "text-to-image"), card("tts", "text-to-speech")])
    bad = {"tasks": [t(1, "text-to-image", [1], text="a cat")]}
    good = {"tasks": [t(1, "text-to-image", text="a cat"), t(2, "text-to-speech", text="meow")]}
    fake_llm.script(bad, good, "never used")
    reply = await app.orchestrator.handle(Request(key(), "draw a cat and say meow"))
    assert reply.ok and reply.llm_calls == 2 and len(fake_llm.requests) == 2
    assert "Here is what I did" in reply.text and "text-to-speech" in reply.text


async def test_a_linked_image_is_fetched_safely_and_used(make_app: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend) -> None:
    import httpx

    from orchestrator import media

    app = await make_app(catalog=[card("cap", "image-to-text")])
    # loopback, even over http, is never fetched: the user is told why
    reply = await app.orchestrator.handle(Request(key(), "what is in http://127.0.0.1:8080/admin/cat.png ?"))
    assert reply.error and "127.0.0.1" in reply.text and not fake_llm.requests

    # a public host goes through the same fetcher (DNS and network faked at the edge)
    async def dns(host: str, port: int) -> list[str]:
        return {"img.example.com": ["93.184.216.34"]}[host]

    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=png_bytes("blue"))

    async def fetch(url: str, max_bytes: int) -> bytes:
        return await media.fetch_url(url, max_bytes, resolve=dns, transport=httpx.MockTransport(server))

    app.orchestrator.fetch = fetch
    fake_llm.script(lambda req: {"tasks": [t(1, "image-to-text", image=FakeLLMServer.handles(req)[0])]}, "A blue square.")
    reply = await app.orchestrator.handle(Request(key(), "what is in https://img.example.com/pics/cat.png?"))
    assert reply.ok and reply.runs[0].status is RunStatus.OK
    conv = await app.store.conversation(key())
    assert [a.filename for a in await app.store.artifacts(conv)] == ["cat.png"]


async def test_bad_inputs_fail_once_instead_of_trying_every_model(make_app: Any, fake_llm: FakeLLMServer) -> None:
    app = await make_app(catalog=[{"id": "pillow/simple-edits", "task": "image-to-image", "backend": "python"},
                                  {"id": "pillow/simple-edits-2", "task": "image-to-image", "backend": "python"}])
    fake_llm.script(lambda req: {"tasks": [t(1, "image-to-image", image=FakeLLMServer.handles(req)[0], text="make it sing")]},
                    "Could not edit.")
    reply = await app.orchestrator.handle(Request(key(), "make it sing", (Attachment("a.png", png_bytes()),)))
    run = reply.runs[0]
    assert run.status is RunStatus.FAILED and run.model == "pillow/simple-edits"  # the second model was not tried
    assert "grayscale" in (run.error or "")  # the error lists the edits it can do
