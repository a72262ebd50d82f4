"""Hostile planner output takes the repair turn (with the validator's sentences), never a crash."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.types import ConversationKey, Request, RunStatus
from tests.fakes.backends import FakeBackend
from tests.fakes.llm_server import FakeLLMServer


def _plan(text_arg: str, deps: list[int] | None = None, tid: Any = 2) -> str:
    return json.dumps({"tasks": [
        {"id": 1, "task": "summarization", "deps": [], "args": {"text": "a long story"}, "model": None},
        {"id": tid, "task": "translation", "deps": deps or [], "args": {"text": text_arg, "context": "French"},
         "model": None}]})


HOSTILE = {
    "unicode digit id": (_plan("<GENERATED>-1", [1], tid="²"), "no integer 'id'"),
    "huge integer": ('{"tasks": [{"id": ' + "9" * 5000 + ', "task": "summarization"}]}', "number too long"),
    "deep nesting": ('{"tasks": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested too deeply"),
    "GENERATED-x": (_plan("<GENERATED>-x", [1]), "not a valid reference"),
    "GENERATED-1x": (_plan("<GENERATED>-1x", [1]), "not a valid reference"),
    "GENERATED- 1 without deps": (_plan("<GENERATED>- 1"), "not a valid reference"),
    "GENERATED-+1 without deps": (_plan("<GENERATED>-+1"), "not a valid reference"),
    "truncated": (_plan("<GENERATED>-1", [1])[:60], "not valid JSON"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_plan_takes_the_repair_turn(name: str, make_app: Any, fake_llm: FakeLLMServer,
                                                  fake_backend: FakeBackend) -> None:
    content, problem = HOSTILE[name]
    app = await make_app(catalog=[{"id": "sum", "task": "summarization", "backend": "fake", "size": 1},
                                  {"id": "tr", "task": "translation", "backend": "fake", "size": 1}])
    fake_llm.script(content, json.loads(_plan("<GENERATED>-1", [1])), "Here it is in French.")
    reply = await app.orchestrator.handle(Request(ConversationKey("test", "w", "c1"), "summarize, then in French"))
    assert reply.ok, reply.text
    assert "went wrong" not in reply.text
    assert [r.status for r in reply.runs] == [RunStatus.OK, RunStatus.OK]
    assert reply.runs[1].texts[0].endswith("text=summarization by sum from text=a long story")
    planning = fake_llm.planning_requests()
    assert len(planning) == 2  # one hostile answer, one repair turn
    repair = str(planning[1]["messages"][-1]["content"])
    assert problem in repair, repair
