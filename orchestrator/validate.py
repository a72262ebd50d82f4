"""The one plan validator every planner's output goes through (LLM, fast path, embedded).

It turns raw JSON into a ``Plan`` or raises ``PlanError`` whose ``problems`` are short
sentences precise enough to send back to the LLM for its single repair turn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from graphlib import CycleError, TopologicalSorter
from typing import Any

from . import tasks as registry
from .errors import PlanError
from .types import FILE_KINDS, GENERATED_PREFIX, HANDLE_PREFIX, Kind, Plan, PlanTask

_GENERATED = re.compile(r"^<GENERATED>-(\d+)$")
_MAX_TASKS = 12


def plan_schema() -> dict[str, Any]:
    """The JSON schema sent as ``response_format`` (strict-mode compatible)."""
    arg = {"type": "string"}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["tasks"],
        "properties": {
            "tasks": {
                "type": "array",
                "maxItems": _MAX_TASKS,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "task", "deps", "args", "model"],
                    "properties": {
                        "id": {"type": "integer"},
                        "task": {"type": "string", "enum": registry.names()},
                        "deps": {"type": "array", "items": {"type": "integer"}},
                        "args": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": [],
                            "properties": {k: arg for k in registry.ARG_KEYS},
                        },
                        "model": {"type": ["string", "null"]},
                    },
                },
            }
        },
    }


def _outputs(task_name: str) -> str:
    task = registry.get(task_name)
    return " or ".join((task.output, *task.also)) if task else "nothing"


def validate_plan(
    raw: Any,
    *,
    handles: Mapping[str, Kind],
    candidates: Mapping[str, Sequence[str]] | None = None,
    source: str = "llm",
    allow_literal_files: bool = False,
) -> Plan:
    """Check ``raw`` against the plan contract and return it as a ``Plan``.

    ``handles`` maps every artifact handle of *this* conversation to its kind; any other handle is
    refused. ``candidates`` maps task → model ids offered; a ``model`` outside them is dropped, not
    an error. With ``allow_literal_files`` a file arg may be a plain file name (TaskBench records).
    """
    problems: list[str] = []
    if isinstance(raw, list):  # HuggingGPT's bare-list form
        raw = {"tasks": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("tasks"), list):
        raise PlanError("The plan is not a JSON object with a 'tasks' list.", ["top level must be {\"tasks\": [...]}"])
    items = raw["tasks"]
    if len(items) > _MAX_TASKS:
        problems.append(f"the plan has {len(items)} tasks; at most {_MAX_TASKS} are allowed")
    parsed: list[PlanTask] = []
    ids: set[int] = set()
    for pos, item in enumerate(items, 1):
        where = f"task #{pos}"
        if not isinstance(item, dict):
            problems.append(f"{where} is not an object")
            continue
        tid = item.get("id")
        if isinstance(tid, str) and tid.isdigit():
            tid = int(tid)
        if not isinstance(tid, int) or isinstance(tid, bool):
            problems.append(f"{where} has no integer 'id'")
            continue
        where = f"task {tid}"
        if tid in ids:
            problems.append(f"{where}: duplicate id")
            continue
        ids.add(tid)
        name = item.get("task")
        task = registry.get(name) if isinstance(name, str) else None
        if task is None:
            problems.append(f"{where}: unknown task {name!r}; use one of the listed task names")
            continue
        deps_raw = item.get("deps", item.get("dep", []))
        if not isinstance(deps_raw, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in deps_raw):
            problems.append(f"{where}: 'deps' must be a list of task ids")
            deps_raw = []
        deps = tuple(dict.fromkeys(int(d) for d in deps_raw if d != -1))
        args_raw = item.get("args", {})
        if not isinstance(args_raw, dict):
            problems.append(f"{where}: 'args' must be an object")
            args_raw = {}
        args: dict[str, str] = {}
        for key, value in args_raw.items():
            if value is None or value == "":
                continue
            if key not in registry.ARG_KEYS:
                problems.append(f"{where}: unknown arg {key!r} (allowed: {', '.join(registry.ARG_KEYS)})")
                continue
            if not task.accepts(key):
                problems.append(f"{where}: {task.name} takes no {key!r} input (it takes {', '.join(task.inputs)})")
                continue
            if not isinstance(value, str):
                value = str(value)
            args[key] = value.strip()
        for kind in task.inputs:
            if kind not in args:
                problems.append(f"{where}: {task.name} needs a {kind!r} input")
        if tid in deps:
            problems.append(f"{where} depends on itself")
        model = item.get("model")
        offered = (candidates or {}).get(task.name, ())
        model = model if isinstance(model, str) and model in offered else None
        parsed.append(PlanTask(id=tid, task=task.name, deps=deps, args=args, model=model))

    by_id = {t.id: t for t in parsed}
    for t in parsed:
        for dep in t.deps:
            if dep not in ids:
                problems.append(f"task {t.id} depends on task {dep}, which does not exist")
        for key, value in t.args.items():
            problems.extend(_check_arg(t, key, value, by_id, handles, allow_literal_files))
    if not problems:
        try:
            tuple(TopologicalSorter({t.id: t.deps for t in parsed}).static_order())
        except CycleError as exc:
            cycle = " → ".join(str(n) for n in exc.args[1]) if len(exc.args) > 1 else "?"
            problems.append(f"the dependencies form a cycle ({cycle})")
    if problems:
        raise PlanError("The plan is invalid: " + "; ".join(problems[:6]) + ".", problems)
    return Plan(tasks=tuple(parsed), source=source)


def _check_arg(t: PlanTask, key: str, value: str, by_id: Mapping[int, PlanTask],
               handles: Mapping[str, Kind], allow_literal_files: bool) -> list[str]:
    where = f"task {t.id}"
    want: str = "text" if key == "context" else key
    m = _GENERATED.match(value)
    if m:
        k = int(m.group(1))
        if k == t.id:
            return [f"{where} uses its own output"]
        if k not in t.deps:
            return [f"{where} uses {GENERATED_PREFIX}{k} but {k} is not in its deps"]
        src = by_id.get(k)
        src_task = registry.get(src.task) if src is not None else None
        if src is not None and (src_task is None or not src_task.produces(want)):
            return [f"{where}: {key!r} needs {want}, but task {k} ({src.task}) outputs {_outputs(src.task)}"]
        return []
    if value.startswith(HANDLE_PREFIX):
        kind = handles.get(value)
        if kind is None:
            return [f"{where}: {value} is not an artifact of this conversation"]
        if kind != want and not (want == "audio" and kind == "video"):  # a video's audio track
            return [f"{where}: {key!r} needs {want}, but {value} is {kind}"]
        return []
    if want in FILE_KINDS and not allow_literal_files:
        return [f"{where}: {key!r} must be an artifact handle or <GENERATED>-k, not a literal"]
    return []
