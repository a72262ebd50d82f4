"""The re-plan call's own edges (the whole flow is in tests/scenarios/test_answers.py)."""

from __future__ import annotations

import pytest

from orchestrator.errors import PlanError
from orchestrator.planner import Planner, PlanningContext
from orchestrator.replan import _json, replan
from orchestrator.types import Plan, PlanTask, RunStatus, TaskRun


def test_fenced_json_is_read_and_garbage_is_a_plan_error() -> None:
    assert _json('```json\n{"tasks": []}\n```') == {"tasks": []}
    assert _json(' {"tasks": []} ') == {"tasks": []}
    with pytest.raises(PlanError, match="not valid JSON"):
        _json("sorry, I cannot")


async def test_without_an_llm_there_is_no_replan() -> None:
    planner = Planner(llm=None, candidates=lambda task: [])
    plan = Plan((PlanTask(1, "text-to-speech", (), {"text": "hi"}),))
    runs = [TaskRun(1, "text-to-speech", status=RunStatus.FAILED, error="boom")]
    assert await replan(planner, PlanningContext("say hi", (), ()), plan, runs, ()) is None


def test_renumber_moves_ids_deps_and_references_past_the_first_plan() -> None:
    from orchestrator.replan import renumber

    raw = {"tasks": [{"id": 1, "task": "a", "deps": [-1], "args": {"text": "hi"}},
                     {"id": "2", "task": "b", "deps": [1], "args": {"text": "<GENERATED>-1", "image": "artifact:x"}}]}
    assert renumber(raw, 3) == {"tasks": [
        {"id": 4, "task": "a", "deps": [-1], "args": {"text": "hi"}},
        {"id": 5, "task": "b", "deps": [4], "args": {"text": "<GENERATED>-4", "image": "artifact:x"}}]}
    assert renumber({"tasks": "nope"}, 3) == {"tasks": "nope"} and renumber([1], 3) == [1]
