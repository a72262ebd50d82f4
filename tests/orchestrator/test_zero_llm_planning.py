"""The planner's zero-LLM path as the pipeline calls it: this message's files, the previous answer,
and only tasks a model here runs (fast path declines with an LLM; TaskUnavailable without one)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest

from orchestrator.embedded_planner import EmbeddedPlanner
from orchestrator.errors import TaskUnavailable
from orchestrator.llm import OpenAILLM, start_counting
from orchestrator.planner import Planner, PlanningContext
from orchestrator.router import TaskRouter
from orchestrator.types import Artifact, Kind, Message
from tests.fakes.embedder import WordEmbedder
from tests.fakes.llm_server import FakeLLMServer


def _art(aid: str, kind: Kind, task: str | None = None) -> Artifact:
    return Artifact(id=aid, conversation_id=1, kind=kind, mime="", path=Path(f"/{aid}"), size=1, task=task)


MEMO = _art("memo", "audio")
SIGN = _art("sign", "image")


@pytest.fixture(scope="module")
def router() -> TaskRouter:
    return TaskRouter(WordEmbedder())


def _planner(router: TaskRouter, runnable: Collection[str] | None = None, llm: Any = None) -> Planner:
    rules = EmbeddedPlanner(router)
    return Planner(llm=llm, candidates=lambda t: ["m"] if runnable is None or t in runnable else [],
                   router=lambda: router, rule_planner=lambda: rules)


async def test_the_sign_is_read_not_the_old_memo(router: TaskRouter) -> None:
    # the memo is listed first (as a content-addressed store may list it); the sign came with this message
    ctx = PlanningContext("what does this sign say?", [], [MEMO, SIGN], attached=["artifact:sign"])
    plan = await _planner(router).plan(ctx)
    assert [(t.task, t.wire_args()) for t in plan.tasks] == [("image-to-text", {"image": "artifact:sign"})]


async def test_say_it_out_loud_speaks_the_previous_answer(router: TaskRouter) -> None:
    history = [Message("user", "read this sign"), Message("assistant", "OPEN 9 TO 5\n[generated image artifact:x by y]")]
    plan = await _planner(router).plan(PlanningContext("now say it out loud", history, []))
    assert [(t.task, t.wire_args()) for t in plan.tasks] == [("text-to-speech", {"text": "OPEN 9 TO 5"})]


async def test_without_an_llm_an_unrunnable_task_is_a_typed_answer(router: TaskRouter) -> None:
    planner = _planner(router, runnable={"image-to-text", "text-to-speech"})
    with pytest.raises(TaskUnavailable) as info:
        await planner.plan(PlanningContext("translate 'good morning' into French", [], []))
    assert info.value.tasks == ["translation"]
    assert "translation can't run here" in info.value.user_message()
    assert "OPENAI_BASE_URL" in info.value.user_message()
    # evaluation plans over the whole registry
    plan = await planner.plan(PlanningContext("translate 'good morning' into French", [], [], any_task=True))
    assert [t.task for t in plan.tasks] == ["translation"]


async def test_with_an_llm_the_fast_path_leaves_unrunnable_tasks_to_it(fake_llm: FakeLLMServer) -> None:
    router = TaskRouter(WordEmbedder(), threshold=0.0)
    fake_llm.script({"tasks": [{"id": 1, "task": "image-classification", "deps": [],
                                "args": {"image": "artifact:made"}, "model": None}]})
    llm = OpenAILLM(model="m", base_url=fake_llm.base_url, api_key="k", max_retries=0)
    planner = _planner(router, runnable={"image-classification"}, llm=llm)
    made = _art("made", "image", task="text-to-image")
    counter = start_counting()
    plan = await planner.plan(PlanningContext("Now tell me what is in the picture you just made.", [], [made]))
    assert plan.source == "llm" and [t.task for t in plan.tasks] == ["image-classification"]
    assert counter.calls == 1
    await llm.close()


def test_router_alone_would_have_taken_image_to_text(router: TaskRouter) -> None:
    # the counterpart of the test above: without the runnable filter the fast path plans image-to-text
    eager = TaskRouter(WordEmbedder(), threshold=0.0)
    raw = eager.plan("Now tell me what is in the picture you just made.", [("artifact:made", "image")])
    assert raw is not None and raw["tasks"][0]["task"] == "image-to-text"
