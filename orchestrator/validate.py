"""The one plan validator every planner's output goes through (LLM, fast path, embedded).

``parse_plan_json`` turns the LLM's text into JSON and ``validate_plan`` turns that JSON into a
``Plan`` whose args are typed (``LiteralArg``, ``ArtifactRef``, ``Generated``): references are
parsed here, once, and the executor only matches on the types. Both raise nothing but
``PlanError``, whose ``problems`` are short sentences precise enough to send back to the LLM for
its single repair turn, whatever the input (hostile JSON, huge numbers, deep nesting).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from graphlib import CycleError, TopologicalSorter
from typing import Any

from . import tasks as registry
from .errors import PlanError
from .types import (
    FILE_KINDS,
    GENERATED_PREFIX,
    HANDLE_PREFIX,
    ArtifactRef,
    Generated,
    Kind,
    LiteralArg,
    Plan,
    PlanArg,
    PlanTask,
)

# Only these exact forms are references: ASCII digits (no sign, space or other scripts' digits)
# of bounded length, and the artifact id alphabet. Anything else that resembles one is refused.
_MAX_ID = 999_999
_GENERATED = re.compile(r"<GENERATED>-([0-9]{1,6})", re.ASCII)
_HANDLE = re.compile(r"artifact:([A-Za-z0-9_-]{1,64})", re.ASCII)
_HANDLE_LIKE = re.compile(r"\s*artifact\s*:")
_ID_TEXT = re.compile(r"[0-9]{1,6}", re.ASCII)
_MAX_TASKS = 12
_MAX_ARG_CHARS = 100_000
_MAX_PLAN_CHARS = 1_000_000


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


def parse_plan_json(content: str) -> Any:
    """The planner's answer as JSON, or ``PlanError`` (never another exception) with the reason."""
    if not isinstance(content, str):
        raise PlanError("The plan is not valid JSON.", ["the answer is not text"])
    text = content.strip()
    if len(text) > _MAX_PLAN_CHARS:
        raise PlanError("The plan is too long.", [f"the answer is {len(text)} characters; a plan is a few hundred"])
    if text.startswith("```"):  # some servers wrap JSON in a fence even under json_schema
        text = text.strip("`")
        text = text[text.find("\n") + 1:] if "\n" in text else text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError("The plan is not valid JSON.", [f"the answer is not valid JSON ({exc.msg} at char {exc.pos})"]) from exc
    except ValueError as exc:  # an integer past Python's 4,300-digit conversion limit
        raise PlanError("The plan is not valid JSON.", ["the answer holds a number too long to read; ids are small integers"]) from exc
    except RecursionError as exc:
        raise PlanError("The plan is not valid JSON.", ["the answer is nested too deeply"]) from exc


def validate_plan(
    raw: Any,
    *,
    handles: Mapping[str, Kind],
    candidates: Mapping[str, Sequence[str]] | None = None,
    source: str = "llm",
    allow_literal_files: bool = False,
) -> Plan:
    """Check ``raw`` against the plan contract and return it as a ``Plan`` with typed args.

    ``handles`` maps every artifact handle of *this* conversation to its kind; any other handle is
    refused. ``candidates`` maps task → model ids offered; a ``model`` outside them is dropped, not
    an error. With ``allow_literal_files`` a file arg may be a plain file name (TaskBench records).
    Raises only ``PlanError``.
    """
    problems: list[str] = []
    if isinstance(raw, list):  # HuggingGPT's bare-list form
        raw = {"tasks": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("tasks"), list):
        raise PlanError("The plan is not a JSON object with a 'tasks' list.", ["top level must be {\"tasks\": [...]}"])
    items = raw["tasks"]
    if len(items) > _MAX_TASKS:
        problems.append(f"the plan has {len(items)} tasks; at most {_MAX_TASKS} are allowed")
        raise PlanError("The plan is invalid: " + problems[0] + ".", problems)
    parsed: list[PlanTask] = []
    ids: set[int] = set()
    for pos, item in enumerate(items, 1):
        task = _parse_task(item, f"task #{pos}", ids, problems, candidates or {}, handles, allow_literal_files)
        if task is not None:
            parsed.append(task)

    by_id = {t.id: t for t in parsed}
    for t in parsed:
        for dep in t.deps:
            if dep not in ids:
                problems.append(f"task {t.id} depends on task {dep}, which does not exist")
        for key, value in t.args.items():
            if isinstance(value, Generated):
                problems.extend(_check_generated(t, key, value.task_id, by_id))
    if not problems:
        try:
            tuple(TopologicalSorter({t.id: t.deps for t in parsed}).static_order())
        except CycleError as exc:
            cycle = " → ".join(str(n) for n in exc.args[1]) if len(exc.args) > 1 else "?"
            problems.append(f"the dependencies form a cycle ({cycle})")
    if problems:
        raise PlanError("The plan is invalid: " + "; ".join(problems[:6]) + ".", problems)
    return Plan(tasks=tuple(parsed), source=source)


def _parse_task(item: Any, where: str, ids: set[int], problems: list[str], candidates: Mapping[str, Sequence[str]],
                handles: Mapping[str, Kind], allow_literal_files: bool) -> PlanTask | None:
    """One task of the plan, or None (with the reason in ``problems``) when it cannot be used."""
    if not isinstance(item, dict):
        problems.append(f"{where} is not an object")
        return None
    tid = _task_id(item.get("id"))
    if tid is None:
        problems.append(f"{where} has no integer 'id' (0 to {_MAX_ID})")
        return None
    where = f"task {tid}"
    if tid in ids:
        problems.append(f"{where}: duplicate id")
        return None
    ids.add(tid)
    name = item.get("task")
    task = registry.get(name) if isinstance(name, str) else None
    if task is None:
        problems.append(f"{where}: unknown task {_show(name)}; use one of the listed task names")
        return None
    deps = _deps(item.get("deps", item.get("dep", [])))
    if deps is None:
        problems.append(f"{where}: 'deps' must be a list of task ids")
        deps = ()
    args_raw = item.get("args", {})
    if not isinstance(args_raw, dict):
        problems.append(f"{where}: 'args' must be an object")
        args_raw = {}
    args: dict[str, PlanArg] = {}
    for key, value in args_raw.items():
        if value is None or value == "":
            continue
        if not isinstance(key, str) or key not in registry.ARG_KEYS:
            problems.append(f"{where}: unknown arg {_show(key)} (allowed: {', '.join(registry.ARG_KEYS)})")
            continue
        if not task.accepts(key):
            problems.append(f"{where}: {task.name} takes no {key!r} input (it takes {', '.join(task.inputs)})")
            continue
        arg = _parse_arg(where, key, value, handles, allow_literal_files)
        if isinstance(arg, str):
            problems.append(arg)
        else:
            args[key] = arg
    for kind in task.inputs:
        if kind not in args and kind in args_raw and args_raw[kind] not in (None, ""):
            continue  # already reported as a bad value
        if kind not in args:
            problems.append(f"{where}: {task.name} needs a {kind!r} input")
    if tid in deps:
        problems.append(f"{where} depends on itself")
    model = item.get("model")
    offered = candidates.get(task.name, ())
    model = model if isinstance(model, str) and model in offered else None
    return PlanTask(id=tid, task=task.name, deps=deps, args=args, model=model)


def _task_id(value: Any) -> int | None:
    """A task id: an integer or ASCII-digit string from 0 to ``_MAX_ID`` (never ``"²"`` or 10**5000)."""
    if isinstance(value, str) and _ID_TEXT.fullmatch(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_ID:
        return value
    return None


def _deps(value: Any) -> tuple[int, ...] | None:
    """The deps as ids (HuggingGPT's ``-1`` meaning "none" dropped), or None when malformed."""
    if not isinstance(value, list):
        return None
    out: list[int] = []
    for d in value:
        if isinstance(d, int) and not isinstance(d, bool) and d == -1:
            continue
        if not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= _MAX_ID:
            return None
        out.append(d)
    return tuple(dict.fromkeys(out))


def _parse_arg(where: str, key: str, value: Any, handles: Mapping[str, Kind],
               allow_literal_files: bool) -> PlanArg | str:
    """The typed value of one arg, or a problem sentence."""
    want: str = "text" if key == "context" else key
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return f"{where}: {key!r} must be a string, not {type(value).__name__}"
    if isinstance(value, int) and value.bit_length() > 64:
        return f"{where}: {key!r} is a number too long to use"
    text = value.strip() if isinstance(value, str) else str(value)
    if len(text) > _MAX_ARG_CHARS:
        return f"{where}: {key!r} is {len(text)} characters long; at most {_MAX_ARG_CHARS} are allowed"
    m = _GENERATED.fullmatch(text)
    if m:
        return Generated(int(m.group(1)))
    m = _HANDLE.fullmatch(text)
    if m:
        kind = handles.get(text)
        if kind is None:
            return f"{where}: {text} is not an artifact of this conversation"
        if kind != want and not (want == "audio" and kind == "video"):  # a video's audio track
            return f"{where}: {key!r} needs {want}, but {text} is {kind}"
        return ArtifactRef(m.group(1))
    folded = unicodedata.normalize("NFKC", text).casefold()
    if "<generated" in folded or "generated>" in folded:
        return (f"{where}: {key!r} is {_show(text)}, which is not a valid reference; write exactly "
                f"{GENERATED_PREFIX}k with k the id of a task in deps, or a plain value without {GENERATED_PREFIX}")
    if _HANDLE_LIKE.match(folded):
        return (f"{where}: {key!r} is {_show(text)}, which is not a valid artifact handle; "
                f"use a {HANDLE_PREFIX}<id> handle exactly as listed")
    if want in FILE_KINDS and not allow_literal_files:
        return f"{where}: {key!r} must be an artifact handle or {GENERATED_PREFIX}k, not a literal"
    return LiteralArg(text)


def _check_generated(t: PlanTask, key: str, k: int, by_id: Mapping[int, PlanTask]) -> list[str]:
    where = f"task {t.id}"
    want: str = "text" if key == "context" else key
    if k == t.id:
        return [f"{where} uses its own output"]
    if k not in t.deps:
        return [f"{where} uses {GENERATED_PREFIX}{k} but {k} is not in its deps"]
    src = by_id.get(k)
    src_task = registry.get(src.task) if src is not None else None
    if src is not None and (src_task is None or not src_task.produces(want)):
        return [f"{where}: {key!r} needs {want}, but task {k} ({src.task}) outputs {_outputs(src.task)}"]
    return []


def _show(value: Any) -> str:
    """A value for a problem sentence: strings quoted and cut short, anything else by type only
    (``repr`` of a hostile structure can be huge or recurse without end)."""
    if isinstance(value, str):
        return repr(value[:60] + "…") if len(value) > 60 else repr(value)
    return f"a {type(value).__name__}"
