"""The LLM planner: one call, one repair turn at most, selection folded into the prompt."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import PlanError
from orchestrator.llm import OpenAILLM, start_counting
from orchestrator.planner import Planner, PlanningContext, trim_history
from orchestrator.types import Artifact, Message
from tests.fakes.llm_server import FakeLLMServer

IMG = Artifact(id="img1", conversation_id=1, kind="image", mime="image/png", path=Path("/x.png"), size=1,
               filename="sign.png")
CANDS = {"image-to-text": ["ocr-small", "caption-large"], "translation": ["mt-1"]}


def planner(url: str) -> Planner:
    llm = OpenAILLM(model="m", base_url=url, api_key="k", max_retries=0)
    return Planner(llm=llm, candidates=lambda t: CANDS.get(t, []))


GOOD = {"tasks": [
    {"id": 1, "task": "image-to-text", "deps": [], "args": {"image": "artifact:img1"}, "model": "caption-large"},
    {"id": 2, "task": "translation", "deps": [1], "args": {"text": "<GENERATED>-1", "context": "French"}, "model": "nope"},
]}


async def test_one_call_plans_and_selects(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(GOOD)
    counter = start_counting()
    plan = await planner(fake_llm.base_url).plan(PlanningContext("read the sign in French", [], [IMG]))
    assert counter.calls == 1
    assert [t.model for t in plan.tasks] == ["caption-large", None]  # invalid choice ignored
    prompt = "\n".join(m["content"] for m in fake_llm.requests[0]["messages"])
    assert "artifact:img1 (image) named <data>sign.png</data>" in prompt
    assert "image-to-text: ocr-small, caption-large" in prompt


async def test_invalid_plan_is_repaired_once(fake_llm: FakeLLMServer) -> None:
    bad = {"tasks": [{"id": 1, "task": "image-to-text", "deps": [1], "args": {"image": "artifact:other"}}]}
    fake_llm.script(bad, GOOD)
    counter = start_counting()
    plan = await planner(fake_llm.base_url).plan(PlanningContext("read it", [], [IMG]))
    assert len(plan.tasks) == 2 and counter.calls == 2
    repair = fake_llm.requests[1]["messages"][-1]["content"]
    assert "depends on itself" in repair and "artifact:other" in repair


async def test_still_invalid_after_repair_is_reported(fake_llm: FakeLLMServer) -> None:
    fake_llm.script("this is not json", {"tasks": [{"id": 1, "task": "teleport", "deps": [], "args": {}}]})
    with pytest.raises(PlanError) as info:
        await planner(fake_llm.base_url).plan(PlanningContext("do it", [], []))
    assert "unknown task 'teleport'" in str(info.value)
    assert len(fake_llm.requests) == 2  # never a third call


async def test_history_is_trimmed_newest_first(fake_llm: FakeLLMServer) -> None:
    history = [Message("user", f"old message {i} " + "x" * 400) for i in range(50)] + [Message("user", "newest")]
    kept = trim_history(history, 300)
    assert kept[-1].text == "newest" and len(kept) < 5
    fake_llm.script({"tasks": []})
    p = planner(fake_llm.base_url)
    p.history_tokens = 300
    await p.plan(PlanningContext("hi", history, []))
    prompt = fake_llm.requests[0]["messages"][-1]["content"]
    assert "newest" in prompt and "old message 0 " not in prompt


class _ScriptedLocalModel:
    """The in-process model edge: returns scripted JSON (or raises) like LocalChatLLM.complete_json."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)

    async def complete_json(self, messages: list[dict[str, str]], schema: dict[str, object], max_tokens: int = 512) -> str:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return json.dumps(answer)

    async def stream(self, messages: list[dict[str, str]], max_tokens: int = 256) -> AsyncIterator[str]:
        yield "unused"


def _rules() -> Any:
    from orchestrator.embedded_planner import EmbeddedPlanner
    from orchestrator.router import TaskRouter
    from tests.fakes.embedder import WordEmbedder

    return EmbeddedPlanner(TaskRouter(WordEmbedder()))


async def test_a_local_model_plans_through_the_same_validator() -> None:
    from orchestrator.llm import InProcessLLM

    model = _ScriptedLocalModel({"tasks": [{"id": 1, "task": "image-to-text", "deps": [], "args": {"image": "artifact:img1"}}]})
    p = Planner(llm=InProcessLLM(lambda: model), candidates=lambda t: [], rule_planner=_rules)
    counter = start_counting()
    plan = await p.plan(PlanningContext("read it", [], [IMG]))
    assert plan.source == "llm" and plan.tasks[0].task == "image-to-text" and counter.calls == 1


async def test_a_local_model_that_runs_out_of_tokens_hands_over_to_the_rules() -> None:
    from orchestrator.errors import LLMBadResponse
    from orchestrator.llm import InProcessLLM

    model = _ScriptedLocalModel(LLMBadResponse("the plan was cut off at 512 tokens"))
    p = Planner(llm=InProcessLLM(lambda: model), candidates=lambda t: ["ocr"], rule_planner=_rules)
    plan = await p.plan(PlanningContext("read the text in this image", [], [IMG]))
    assert plan.source.startswith("embedded") and [t.task for t in plan.tasks] == ["image-to-text"]
