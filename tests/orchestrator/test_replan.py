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
