"""Property suite: hostile planner output through the planner's own parse + validate entry point.

Over 10,000 malformed and adversarial plans (truncated JSON, wrong types at every level, unicode
digits, integers past Python's 4,300-digit limit, deep nesting, cycles, self-deps, unknown tasks,
other conversations' handles, path-like strings, every malformed ``<GENERATED>`` form, huge args)
must give either a sound ``Plan`` or a ``PlanError`` with short problem sentences, which is what
the repair turn needs; never another exception. Valid plans must run: every reference resolves
in the real executor. Derandomized, so CI sees the same examples every run.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import tempfile
from collections.abc import Callable
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import tasks as registry
from orchestrator.errors import PlanError
from orchestrator.types import FILE_KINDS, ArtifactRef, Generated, Kind, LiteralArg, Plan, RunStatus
from orchestrator.validate import parse_plan_json, validate_plan
from tests.fakes.executor import make_executor

pytestmark = [
    pytest.mark.slow,  # 10,000 adversarial plans + 300 executed: ~50 s on 2 busy cores
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),  # hypothesis describing these strategies
]

HANDLES: dict[str, Kind] = {"artifact:img1": "image", "artifact:aud1": "audio", "artifact:vid1": "video",
                            "artifact:txt1": "text"}
TASK_NAMES = sorted(registry.TASKS)


def fuzz(n: int) -> Callable[[Any], Any]:
    return settings(max_examples=n, deadline=None, derandomize=True, database=None, print_blob=False,
                    suppress_health_check=list(HealthCheck))


# -- building blocks ---------------------------------------------------------------------------------

unicode_digits = st.text(st.characters(categories=["Nd", "No", "Nl"], exclude_characters="0123456789"),
                         min_size=1, max_size=3)
huge_int = st.integers(4300, 6000).map(lambda n: 10 ** n + 7)
huge_text = st.integers(100_001, 150_000).map(lambda n: "a" * n)
deep_list = st.integers(200, 5_000).map(lambda n: functools.reduce(lambda acc, _: [acc], range(n), 0))
canonical_ref = st.integers(0, 14).map(lambda k: f"<GENERATED>-{k}")
malformed_ref = st.one_of(
    st.sampled_from(["<GENERATED>-x", "<GENERATED>-1x", "<GENERATED>- 1", "<GENERATED>-+1", "<GENERATED>--1",
                     "<GENERATED>-1.0", "<GENERATED>-", "<GENERATED>1", "<generated>-1", "<GENERATED> -1",
                     "＜GENERATED＞-1", "<GENERATED>-1234567", "<GENERATED>-0x1", "<GENERATED>-1e3"]),
    unicode_digits.map(lambda d: f"<GENERATED>-{d}"),
    st.tuples(st.integers(0, 9), st.text(max_size=3).filter(lambda s: s.strip() != "" and not s.isascii()
                                                             or s[:1] in "x -+.")).map(lambda p: f"<GENERATED>-{p[0]}{p[1]}"),
    st.tuples(st.sampled_from([" ", "+", "-", "−", "\u200b", "\t"]), st.integers(0, 9)).map(
        lambda p: f"<GENERATED>-{p[0]}{p[1]}"),
    st.tuples(st.text(min_size=1, max_size=8), canonical_ref).map(lambda p: f"{p[0]}{p[1]}"),
)
handle_like = st.one_of(
    st.sampled_from([*HANDLES, "artifact:zz9other", "artifact:k3j9x0q2ab", "artifact:", "artifact:../../etc/passwd",
                     "ARTIFACT:img1", "artifact: img1", "artifact:img1/../x", "artifact:%2e%2e"]),
    st.text(max_size=12).map(lambda s: f"artifact:{s}"),
)
path_like = st.sampled_from(["/etc/passwd", "../../secret.png", "~/.ssh/id_rsa", "C:\\Windows\\win.ini",
                             "file:///etc/hosts", "\\\\server\\share\\a.wav", "photo.jpg", "/dev/zero", "-rf"])
atoms = st.one_of(st.none(), st.booleans(), st.integers(), huge_int, st.floats(), st.text(max_size=30),
                  unicode_digits, st.sampled_from(TASK_NAMES), canonical_ref, malformed_ref, handle_like, path_like)
values = st.recursive(atoms, lambda kids: st.lists(kids, max_size=3)
                      | st.dictionaries(st.sampled_from(["id", "task", "deps", "args", *registry.ARG_KEYS])
                                        | st.text(max_size=6), kids, max_size=3), max_leaves=6)
arg_value = st.one_of(canonical_ref, malformed_ref, handle_like, path_like, st.text(max_size=40), huge_text,
                      huge_int, deep_list, values)
task_id = st.one_of(st.integers(-2, 14), st.sampled_from(["1", "²", "١", "01", " 1", "1 ", "+1"]), unicode_digits,
                    huge_int, values)
deps = st.one_of(st.lists(st.integers(-1, 14), max_size=4), st.lists(st.one_of(task_id, st.integers()), max_size=3),
                 values)
task_dict = st.fixed_dictionaries(
    {"id": task_id, "task": st.one_of(st.sampled_from(TASK_NAMES), st.text(max_size=20), values), "deps": deps,
     "args": st.one_of(st.dictionaries(st.sampled_from(registry.ARG_KEYS) | st.text(max_size=6), arg_value,
                                       max_size=4), values)},
    optional={"model": values, "dep": deps})
raw_plans = st.one_of(st.fixed_dictionaries({"tasks": st.lists(task_dict | values, max_size=14)}),
                      st.lists(task_dict, max_size=5), values, deep_list)


# -- the property ------------------------------------------------------------------------------------


def verdict(raw: Any) -> Plan | PlanError:
    """The validator's answer; any exception other than ``PlanError`` fails the test."""
    try:
        return validate_plan(raw, handles=HANDLES)
    except PlanError as exc:
        return exc


def assert_repairable(err: PlanError) -> None:
    assert err.problems and all(isinstance(p, str) and 0 < len(p) < 400 for p in err.problems), err.problems
    assert len(str(err)) < 3000


def assert_sound(plan: Plan) -> None:
    """What the executor relies on: typed args, references in deps, handles of this conversation."""
    ids = {t.id for t in plan.tasks}
    assert len(ids) == len(plan.tasks) and len(plan.tasks) <= 12
    tuple(TopologicalSorter({t.id: t.deps for t in plan.tasks}).static_order())
    for t in plan.tasks:
        spec = registry.TASKS[t.task]
        assert t.id not in t.deps and set(t.deps) <= ids
        assert set(spec.inputs) <= set(t.args)
        for key, value in t.args.items():
            want = "text" if key == "context" else key
            if isinstance(value, Generated):
                assert value.task_id in t.deps
                src = next(s for s in plan.tasks if s.id == value.task_id)
                assert registry.TASKS[src.task].produces(want)
            elif isinstance(value, ArtifactRef):
                assert HANDLES[str(value)] == want or (want, HANDLES[str(value)]) == ("audio", "video")
            else:
                assert isinstance(value, LiteralArg) and want not in FILE_KINDS
                assert "GENERATED" not in value.text.upper() and len(value.text) <= 100_000


def check(raw: Any) -> Plan | PlanError:
    result = verdict(raw)
    if isinstance(result, PlanError):
        assert_repairable(result)
    else:
        assert_sound(result)
    return result


@fuzz(3000)
@given(raw_plans)
def test_structured_garbage_gives_a_sound_plan_or_a_problem_list(raw: Any) -> None:
    check(raw)


def _dumps(raw: Any) -> str:
    try:
        return json.dumps(raw)
    except (ValueError, RecursionError):  # huge ints and deep lists: cut where the encoder gave up
        return '{"tasks": [[[[' + "9" * 5000


plan_texts = st.one_of(
    st.tuples(raw_plans.map(_dumps), st.floats(0, 1)).map(lambda p: p[0][: int(len(p[0]) * p[1])]),  # truncated
    raw_plans.map(_dumps),
    st.integers(4300, 8000).map(lambda n: '{"tasks": [{"id": ' + "9" * n + ', "task": "summarization"}]}'),
    st.integers(4300, 8000).map(lambda n: '{"tasks": [{"id": 1, "task": "summarization", "deps": [-' + "1" * n + "]}]}"),
    st.integers(500, 120_000).map(lambda n: '{"tasks": ' + "[" * n + "]" * n + "}"),
    st.integers(500, 120_000).map(lambda n: '{"tasks": [' + '{"a":' * n),
    st.text(max_size=200),
    st.text(max_size=80).map(lambda s: f"```json\n{s}\n```"),
    st.sampled_from(["", "null", "[]", "{}", '{"tasks": null}', '{"tasks": NaN}', '{"tasks": [Infinity]}',
                     '"tasks"', '{"tasks": [{"id": 1e999}]}', "\ufeff{}", '{"tasks": [], "tasks": 1}']),
)


@fuzz(2500)
@given(plan_texts)
def test_hostile_planner_text_gives_a_sound_plan_or_a_problem_list(content: str) -> None:
    try:
        raw = parse_plan_json(content)
    except PlanError as exc:
        assert_repairable(exc)
        return
    check(raw)


# -- graphs that look right: cycles, self-deps, missing ids, reference forms ---------------------------


@st.composite
def near_plans(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """A plan of well-typed tasks over ids 1..n with random deps and references; also whether some
    arg holds a reference-looking string that is not exactly canonical (which must be refused)."""
    n = draw(st.integers(1, 6))
    tasks, malformed = [], False
    for i in range(1, n + 1):
        spec = registry.TASKS[draw(st.sampled_from(TASK_NAMES))]
        deps_ = draw(st.lists(st.integers(0, n + 1), max_size=3))
        args: dict[str, Any] = {}
        for key in (*spec.inputs, *spec.optional):
            value = draw(st.one_of(canonical_ref, malformed_ref, handle_like, path_like, st.text(min_size=1, max_size=8)))
            args["text" if key == "text" else key] = value
            if "GENERATED" in value.upper() and not re.fullmatch(r"<GENERATED>-[0-9]{1,6}", value.strip(), re.ASCII):
                malformed = True
        tasks.append({"id": i, "task": spec.name, "deps": deps_, "args": args})
    return {"tasks": tasks}, malformed


@fuzz(4500)
@given(near_plans())
def test_reference_forms_and_graph_shapes(case: tuple[dict[str, Any], bool]) -> None:
    raw, malformed = case
    result = check(raw)
    if malformed:
        assert isinstance(result, PlanError)


# -- valid plans run: every reference resolves in the real executor -----------------------------------


@st.composite
def valid_plans(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 6))
    tasks: list[dict[str, Any]] = []
    for i in range(1, n + 1):
        spec = registry.TASKS[draw(st.sampled_from(TASK_NAMES))]
        args, deps_ = {}, []
        extra = draw(st.lists(st.sampled_from(spec.optional), max_size=1)) if spec.optional else []
        for key in (*spec.inputs, *extra):
            want = "text" if key == "context" else key
            earlier = [t["id"] for t in tasks if registry.TASKS[t["task"]].produces(want)]
            handle = next(h for h, k in HANDLES.items() if k == want)
            choice = draw(st.sampled_from([*(f"<GENERATED>-{k}" for k in earlier), handle,
                                           *(["a literal"] if want == "text" else [])]))
            args[key] = choice
            if choice.startswith("<GENERATED>-"):
                deps_.append(int(choice.rsplit("-", 1)[1]))
        tasks.append({"id": i, "task": spec.name, "deps": deps_, "args": args})
    return {"tasks": tasks}


@fuzz(300)
@given(valid_plans())
def test_valid_plans_resolve_every_reference_in_the_executor(raw: dict[str, Any]) -> None:
    plan = check(raw)
    assert isinstance(plan, Plan), plan
    asyncio.run(_execute(plan))


async def _execute(plan: Plan) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ex, model, store = make_executor(Path(tmp))
        by_handle = {}
        for handle, kind in HANDLES.items():
            art = await store.put_artifact(1, b"data", kind=kind, mime="x/y", suffix=".bin")
            by_handle[handle] = art
        runs = await ex.run(plan, conversation_id=1, run_id=None, artifacts=by_handle)
        assert all(r.status is RunStatus.OK for r in runs), [(r.id, r.error) for r in runs]
        assert len(model.seen) == len(plan.tasks)
