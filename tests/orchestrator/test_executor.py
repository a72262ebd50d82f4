"""The executor alone: typed references resolve, and a timed-out step keeps its slot until its thread ends."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from orchestrator.types import Plan, PlanTask, RunStatus
from orchestrator.validate import validate_plan
from tests.fakes.executor import make_executor


async def test_typed_references_resolve_to_outputs_and_files(tmp_path: Path) -> None:
    ex, model, store = make_executor(tmp_path)
    note = await store.put_artifact(7, b"a note", kind="text", mime="text/plain", suffix=".txt")
    photo = await store.put_artifact(7, b"png", kind="image", mime="image/png", suffix=".png")
    plan = validate_plan({"tasks": [
        {"id": 1, "task": "image-to-text", "deps": [], "args": {"image": photo.handle}},
        {"id": 2, "task": "translation", "deps": [1], "args": {"text": "<GENERATED>-1", "context": "French"}},
        {"id": 3, "task": "summarization", "deps": [], "args": {"text": note.handle}},
        {"id": 4, "task": "text-to-image", "deps": [], "args": {"text": "a lighthouse"}},
        {"id": 5, "task": "image-to-text", "deps": [4], "args": {"image": "<GENERATED>-4"}},
    ]}, handles={note.handle: "text", photo.handle: "image"})
    runs = await ex.run(plan, conversation_id=7, run_id=None, artifacts={})
    assert [r.status for r in runs] == [RunStatus.OK] * 5, [r.error for r in runs]
    seen = {i: inputs for i, (_, inputs) in enumerate(model.seen)}
    by_task = {task + str(sorted(inputs)): inputs for task, inputs in model.seen}
    assert by_task["translation['context', 'text']"] == {"text": "image-to-text output", "context": "French"}
    assert by_task["summarization['text']"] == {"text": "a note"}
    # files reach the model as bytes copied by the runtime, never as the store's own paths
    generated_image = runs[3].artifacts[0].path.read_bytes()
    assert any(inputs.get("image") == generated_image for inputs in seen.values())
    assert any(inputs.get("image") == b"png" for inputs in seen.values())


async def test_a_plan_that_skipped_the_validator_is_refused_not_parsed(tmp_path: Path) -> None:
    ex, model, _ = make_executor(tmp_path)
    plan = Plan((PlanTask(1, "summarization", (), {"text": "<GENERATED>-x"}),))  # type: ignore[dict-item]
    runs = await ex.run(plan, conversation_id=1, run_id=None, artifacts={})
    assert runs[0].status is RunStatus.FAILED and model.seen == []


async def test_timed_out_step_is_reported_at_its_timeout_but_holds_its_slot_until_its_thread_returns(
        tmp_path: Path) -> None:
    release = threading.Event()

    slow_returned = threading.Event()

    def hook(task: str, inputs: dict[str, Any]) -> None:
        if inputs["text"] == "slow":
            release.wait(20)
            slow_returned.set()

    ex, model, _ = make_executor(tmp_path, hook, task_timeout=0.3, max_parallel=1)

    def plan(text: str) -> Plan:
        return validate_plan({"tasks": [{"id": 1, "task": "summarization", "deps": [], "args": {"text": text}}]},
                             handles={})

    started = time.monotonic()
    slow = await ex.run(plan("slow"), conversation_id=1, run_id=None, artifacts={})
    assert slow[0].status is RunStatus.FAILED and "timed out after" in (slow[0].error or "")
    assert time.monotonic() - started < 2.0  # the user hears about it at the timeout

    fast = asyncio.create_task(ex.run(plan("fast"), conversation_id=1, run_id=None, artifacts={}))
    await asyncio.sleep(0.5)
    # the slow thread still runs, so its slot is still taken: the next step waits (without timing out)
    assert [inputs["text"] for _, inputs in model.seen] == ["slow"] and not fast.done()
    release.set()
    done = await asyncio.wait_for(fast, 10)
    assert done[0].status is RunStatus.OK
    assert [inputs["text"] for _, inputs in model.seen] == ["slow", "fast"]
    await ex.drain()
    # drained means the timed-out step's work has really returned (a pool thread may stay idle: that
    # is not work, so the thread count is no measure here)
    assert slow_returned.is_set()
