"""Answers a user can trust, through the real App: capability questions answered from the catalog,
open chat refused honestly without a trustworthy model, unrunnable tasks named with what would
enable them, and the one bounded re-plan on the LLM path (scripted LLM on 127.0.0.1)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from orchestrator.types import Attachment, EventType, ProgressEvent, Request, RunStatus
from tests.fakes.backends import FakeBackend, png_bytes
from tests.fakes.llm_server import FakeLLMServer
from tests.scenarios.test_pipeline import card, key, t

NO_LLM: dict[str, Any] = {"llm_base_url": "", "llm_api_key": "", "local_llm": ""}


# --- "what can you do?" ------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["hello, what can you do?", "What are your capabilities?", "help", "hi!"])
async def test_capability_question_is_answered_from_the_catalog_without_any_model(
        make_app: Any, fake_backend: FakeBackend, question: str) -> None:
    app = await make_app(catalog=[card("ocr", "image-to-text"), card("tts", "text-to-speech"),
                                  card("gen", "text-to-video", load_fail=True)], **NO_LLM)
    started = time.perf_counter()
    reply = await app.orchestrator.handle(Request(key(), question))
    assert time.perf_counter() - started < 1.0  # no planner, no embedding model, no LLM
    assert reply.ok and reply.llm_calls == 0 and not reply.runs and reply.plan.source == "capabilities"
    assert "- **image-to-text**" in reply.text and "- **text-to-speech**" in reply.text
    assert "text-to-video" in reply.text  # its backend is installed: the catalog says it runs here
    assert "Try: “read the text in this image" in reply.text  # an example per task
    assert "HGBOT_LOCAL_LLM" in reply.text  # and how to get open chat
    assert app.orchestrator.planner._router is None and not fake_backend.loads


async def test_capability_answer_lists_only_tasks_that_run_here(make_app: Any, fake_backend: FakeBackend) -> None:
    missing = {"id": "x", "task": "translation", "backend": "no-such-backend", "size": 1, "description": "x"}
    app = await make_app(catalog=[card("asr", "automatic-speech-recognition"), missing], **NO_LLM)
    reply = await app.orchestrator.handle(Request(key(), "what can you do"))
    assert "automatic-speech-recognition" in reply.text and "translation" not in reply.text
    assert "(1 tasks)" in reply.text


async def test_with_an_endpoint_a_greeting_is_chat_and_the_capability_answer_names_the_model(
        make_app: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("ocr", "image-to-text")])
    fake_llm.script({"tasks": []}, "Hi there!")
    assert (await app.orchestrator.handle(Request(key(), "hello"))).text == "Hi there!"
    reply = await app.orchestrator.handle(Request(key(), "hello, what can you do?"))
    assert reply.llm_calls == 0 and "fake-model" in reply.text and "HGBOT_LOCAL_LLM" not in reply.text


# --- open chat without a trustworthy model -----------------------------------------------------


async def test_open_question_without_a_chat_model_is_refused_with_how_to_enable_it(
        make_app: Any, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("ocr", "image-to-text")], **NO_LLM)
    assert app.llm is None  # the bundled SmolLM2 is not used unless HGBOT_LOCAL_LLM names it
    reply = await app.orchestrator.handle(Request(key(), "what is the capital of Australia"))
    assert not reply.ok and reply.llm_calls == 0 and not reply.runs
    assert "OPENAI_BASE_URL" in reply.text and "HGBOT_LOCAL_LLM" in reply.text and "1B" in reply.text


# --- a task with no runnable model, without an endpoint ---------------------------------------


async def test_unrunnable_task_without_an_endpoint_points_to_one(make_app: Any, fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("ocr", "image-to-text")], **NO_LLM)
    reply = await app.orchestrator.handle(Request(key(), "make a picture of a lighthouse at dusk"))
    assert reply.runs == () and not fake_backend.loads  # nothing ran
    assert not reply.ok and "can't run here" in reply.text
    assert "OPENAI_BASE_URL" in reply.text and "catalog entry" in reply.text


async def test_an_executor_no_model_failure_becomes_the_honest_answer(make_app: Any, fake_llm: FakeLLMServer,
                                                                      fake_backend: FakeBackend) -> None:
    """The selector can lose its last model between planning and running (a backend found broken):
    the executor's "No model…" failure still ends as the honest line and an error."""
    app = await make_app(catalog=[card("tts", "text-to-speech")])
    selector = app.orchestrator.executor.selector
    real_choose = selector.choose
    selector.choose = lambda pt: []  # type: ignore[method-assign]
    fake_llm.script({"tasks": [t(1, "text-to-speech", text="hi")]}, {"tasks": []}, "unused")
    reply = await app.orchestrator.handle(Request(key(), "say hi"))
    selector.choose = real_choose  # type: ignore[method-assign]
    assert not reply.ok and reply.runs[0].status is RunStatus.FAILED  # it was tried: the run is recorded
    assert "text-to-speech can't run here" in reply.text and reply.error and "can't run here" in reply.error


# --- the one bounded re-plan -------------------------------------------------------------------


async def test_a_failed_step_is_replanned_once_with_the_results_so_far(make_app: Any, fake_llm: FakeLLMServer,
                                                                       fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("broken-ocr", "image-to-text", fail=True), card("cls", "image-classification"),
                                  card("gen", "text-to-image")])
    first = {"tasks": [t(1, "text-to-image", text="a red car"), t(2, "image-to-text", [1], image="<GENERATED>-1")]}

    def replan(req: dict[str, Any]) -> dict[str, Any]:
        last = req["messages"][-1]["content"]
        assert "2. image-to-text (broken-ocr): failed" in last and "1. text-to-image (gen): [image made by this step]" in last
        handle = FakeLLMServer.handles(req)[0]  # the picture made by step 1, now a file of the conversation
        return {"tasks": [t(1, "image-classification", image=handle)]}

    fake_llm.script(first, replan, "A red car; the classifier saw a car.")
    shown: list[list[int]] = []

    async def progress(event: ProgressEvent) -> None:
        if event.type is EventType.TASK:
            shown.append([r.id for r in event.runs])

    reply = await app.orchestrator.handle(Request(key(), "make a picture of a red car and tell me what is in it"),
                                          progress)
    assert shown[-1] == [1, 2, 3]  # the re-plan's step is shown after the first plan's, not instead of them
    assert reply.ok and reply.llm_calls == 3 and reply.text == "A red car; the classifier saw a car."
    assert [(r.id, r.task, r.status) for r in reply.runs] == [
        (1, "text-to-image", RunStatus.OK), (2, "image-to-text", RunStatus.FAILED), (3, "image-classification", RunStatus.OK)]
    assert reply.plan is not None and [p.id for p in reply.plan.tasks] == [1, 2, 3]
    assert "re-plan" in reply.plan.source or "replan" in reply.plan.source


async def test_replan_happens_at_most_once_and_calls_stay_at_three(make_app: Any, fake_llm: FakeLLMServer,
                                                                   fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("broken", "image-to-text", fail=True), card("gen", "text-to-image")])
    plan = {"tasks": [t(1, "text-to-image", text="a cat"), t(2, "image-to-text", [1], image="<GENERATED>-1")]}
    again = {"tasks": [t(1, "text-to-image", text="a cat again")]}
    still_failing = {"tasks": [t(1, "image-to-text", image="<GENERATED>-1")]}  # invalid: dropped, no repair
    fake_llm.script(plan, again, "Made a cat twice; no caption model worked.")
    reply = await app.orchestrator.handle(Request(key(), "draw a cat and caption it"))
    assert reply.llm_calls == 3 and len(fake_llm.planning_requests()) == 2
    assert [r.task for r in reply.runs] == ["text-to-image", "image-to-text", "text-to-image"]

    fake_llm.requests.clear()
    fake_llm.script(plan, still_failing)
    reply = await app.orchestrator.handle(Request(key("c2"), "draw a cat and caption it"))
    assert reply.llm_calls == 3 and len(fake_llm.planning_requests()) == 2  # plan, re-plan, then the answer
    assert [r.task for r in reply.runs] == ["text-to-image", "image-to-text"]


async def test_after_a_repair_turn_the_replan_is_the_third_and_last_call(make_app: Any, fake_llm: FakeLLMServer,
                                                                         fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("broken", "image-to-text", fail=True), card("gen", "text-to-image")])
    bad = {"tasks": [t(1, "text-to-image", [1], text="a cat")]}
    good = {"tasks": [t(1, "text-to-image", text="a cat"), t(2, "image-to-text", [1], image="<GENERATED>-1")]}
    fake_llm.script(bad, good, {"tasks": []})
    reply = await app.orchestrator.handle(Request(key(), "draw a cat and caption it"))
    assert reply.llm_calls == 3 and len(fake_llm.requests) == 3  # the answer is written from the results
    assert reply.ok and "image-to-text" in reply.text


async def test_no_replan_without_the_llm_path_or_when_everything_worked(make_app: Any, fake_llm: FakeLLMServer,
                                                                        fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("gen", "text-to-image"), card("tts", "text-to-speech")])
    fake_llm.script({"tasks": [t(1, "text-to-image", text="a cat")]}, "Here is a cat.")
    reply = await app.orchestrator.handle(Request(key(), "draw a cat"))
    assert reply.llm_calls == 2 and len(fake_llm.planning_requests()) == 1


# --- what is available instead ---------------------------------------------------------------


@pytest.mark.parametrize(("question", "instead"), [
    ("how many people are in this photo?", "object-detection"),
    ("what does the sign say?", "image-to-text"),
    ("is this a nice place?", "image-to-text"),
])
async def test_an_unrunnable_image_question_is_answered_with_what_runs_here(
        make_app: Any, fake_llm: FakeLLMServer, fake_backend: FakeBackend, question: str, instead: str) -> None:
    app = await make_app(catalog=[card("faces", "object-detection"), card("ocr", "image-to-text"),
                                  card("cls", "image-classification")])
    fake_llm.script(lambda req: {"tasks": [t(1, "visual-question-answering", image=FakeLLMServer.handles(req)[0],
                                             text=question)]}, "unused")
    reply = await app.orchestrator.handle(Request(key(), question, (Attachment("photo.png", png_bytes()),)))
    assert reply.ok and [r.task for r in reply.runs] == [instead] and reply.runs[0].status is RunStatus.OK
    assert reply.text.startswith("No model here answers questions about images, so ")  # says what it is
    assert reply.plan is not None and reply.plan.tasks[0].task == instead and "text" not in reply.plan.tasks[0].args


async def test_without_a_substitute_the_task_stays_unrunnable(make_app: Any, fake_llm: FakeLLMServer,
                                                              fake_backend: FakeBackend) -> None:
    app = await make_app(catalog=[card("tts", "text-to-speech")])
    fake_llm.script(lambda req: {"tasks": [t(1, "visual-question-answering", image=FakeLLMServer.handles(req)[0],
                                             text="how many people?")]})
    reply = await app.orchestrator.handle(Request(key(), "how many people?", (Attachment("p.png", png_bytes()),)))
    assert not reply.ok and reply.text.startswith("visual-question-answering can't run here")


async def test_a_task_that_cannot_run_here_is_replanned_by_the_llm(make_app: Any, fake_llm: FakeLLMServer,
                                                                   fake_backend: FakeBackend) -> None:
    """A catalog with image classification but no image-to-text: the re-plan gets "cannot run here"
    and plans the runnable task instead of failing the request."""
    app = await make_app(catalog=[card("cls", "image-classification")])

    def replan(req: dict[str, Any]) -> dict[str, Any]:
        assert "1. image-to-text: failed — No model in the catalog can run 'image-to-text'" in req["messages"][-1]["content"]
        return {"tasks": [t(1, "image-classification", image=FakeLLMServer.handles(req)[0])]}

    fake_llm.script(lambda req: {"tasks": [t(1, "image-to-text", image=FakeLLMServer.handles(req)[0])]}, replan,
                    "It shows a red square.")
    reply = await app.orchestrator.handle(Request(key(), "what is in this picture?", (Attachment("p.png", png_bytes()),)))
    assert reply.ok and reply.text == "It shows a red square." and reply.llm_calls == 3
    assert [(r.task, r.status) for r in reply.runs] == [("image-to-text", RunStatus.FAILED),
                                                       ("image-classification", RunStatus.OK)]


async def test_a_planner_that_reports_an_unrunnable_task_with_its_plan_gets_the_same_answers(
        make_app: Any, fake_backend: FakeBackend) -> None:
    """The embedded planner raises a PlanError carrying the plan it would have run when a task has no
    model here: the pipeline substitutes what runs, or answers honestly, as for any plan."""
    from orchestrator.errors import PlanError
    from orchestrator.types import Plan

    class Unavailable(PlanError):
        def __init__(self, plan: Plan) -> None:
            super().__init__("visual-question-answering can't run here.", ["no runnable model"])
            self.plan = plan

    app = await make_app(catalog=[card("faces", "object-detection")], **NO_LLM)

    async def plan(ctx: Any) -> Plan:
        from orchestrator.validate import validate_plan

        image = ctx.resources[0].handle
        raise Unavailable(validate_plan({"tasks": [t(1, "visual-question-answering", image=image, text="how many?")]},
                                        handles={image: "image"}, source="embedded"))

    app.orchestrator.planner.plan = plan  # type: ignore[method-assign]
    reply = await app.orchestrator.handle(Request(key(), "how many people are here?", (Attachment("p.png", png_bytes()),)))
    assert reply.ok and [r.task for r in reply.runs] == ["object-detection"]
    assert reply.text.startswith("No model here answers questions about images")


@pytest.mark.parametrize(("question", "ran"), [
    ("what objects are in this photo?", "image-classification"),  # faces only would say "nothing here"
    ("detect the objects in this image", "image-classification"),
    ("find the faces in this photo", "object-detection"),  # what the narrow model covers
    ("is anyone in this picture?", "object-detection"),
])
async def test_a_narrow_model_answers_only_what_it_covers(make_app: Any, fake_llm: FakeLLMServer,
                                                          fake_backend: FakeBackend, question: str, ran: str) -> None:
    faces = {**card("faces", "object-detection"), "only": "faces"}
    app = await make_app(catalog=[faces, card("cls", "image-classification")])
    fake_llm.script(lambda req: {"tasks": [t(1, "object-detection", image=FakeLLMServer.handles(req)[0])]}, "unused")
    reply = await app.orchestrator.handle(Request(key(), question, (Attachment("photo.png", png_bytes()),)))
    assert reply.ok and [r.task for r in reply.runs] == [ran] and reply.runs[0].status is RunStatus.OK
    said = reply.text.startswith("No general object detector runs here (the detector here finds faces only)")
    assert said is (ran == "image-classification")


async def test_a_narrow_model_stays_when_a_later_step_needs_its_image(make_app: Any, fake_llm: FakeLLMServer,
                                                                      fake_backend: FakeBackend) -> None:
    """The classifier answers in text: a step that reads the boxed image keeps the detector."""
    faces = {**card("faces", "object-detection"), "only": "faces"}
    app = await make_app(catalog=[faces, card("cls", "image-classification"), card("depth", "depth-estimation")])
    fake_llm.script(lambda req: {"tasks": [t(1, "object-detection", image=FakeLLMServer.handles(req)[0]),
                                           t(2, "depth-estimation", [1], image="<GENERATED>-1")]}, "done")
    reply = await app.orchestrator.handle(Request(key(), "detect objects, then estimate depth of the result",
                                                  (Attachment("photo.png", png_bytes()),)))
    assert [r.task for r in reply.runs] == ["object-detection", "depth-estimation"]
