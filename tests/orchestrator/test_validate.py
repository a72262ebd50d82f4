from __future__ import annotations

import pytest

from orchestrator.errors import PlanError
from orchestrator.types import ArtifactRef, Generated, LiteralArg
from orchestrator.validate import parse_plan_json, plan_schema, validate_plan

H = {"artifact:img1": "image", "artifact:aud1": "audio"}


def task(i: int, name: str, deps: list[int] | None = None, **args: str) -> dict:
    return {"id": i, "task": name, "deps": deps or [], "args": args}


def problems(raw: object, **kw: object) -> list[str]:
    with pytest.raises(PlanError) as info:
        validate_plan(raw, handles=kw.pop("handles", H), **kw)  # type: ignore[arg-type]
    return info.value.problems


def test_valid_chain_is_parsed_in_order() -> None:
    plan = validate_plan({"tasks": [task(1, "image-to-text", image="artifact:img1"),
                                    task(2, "text-to-speech", [1], text="<GENERATED>-1")]}, handles=H)
    assert [t.task for t in plan.tasks] == ["image-to-text", "text-to-speech"]
    assert plan.tasks[1].deps == (1,)


def test_empty_plan_means_chat() -> None:
    assert validate_plan({"tasks": []}, handles=H).tasks == ()


def test_bare_list_form_is_accepted() -> None:
    assert len(validate_plan([task(1, "text-to-image", text="a cat")], handles=H).tasks) == 1


@pytest.mark.parametrize(("raw", "needle"), [
    ({"tasks": [task(1, "make-coffee", text="x")]}, "unknown task"),
    ({"tasks": [task(1, "image-to-text", image="artifact:nope")]}, "not an artifact of this conversation"),
    ({"tasks": [task(1, "image-to-text", image="artifact:aud1")]}, "needs image"),
    ({"tasks": [task(1, "text-to-speech", [1], text="<GENERATED>-1")]}, "depends on itself"),
    ({"tasks": [task(1, "text-to-speech", [7], text="hi")]}, "does not exist"),
    ({"tasks": [task(1, "text-to-image", text="a"), task(2, "text-to-speech", [], text="<GENERATED>-1")]}, "not in its deps"),
    ({"tasks": [task(1, "text-to-image", text="a"), task(2, "text-to-speech", [1], text="<GENERATED>-1")]}, "outputs image"),
    ({"tasks": [task(1, "image-to-text", image="photo.jpg")]}, "must be an artifact handle"),
    ({"tasks": [task(1, "visual-question-answering", image="artifact:img1")]}, "needs a 'text' input"),
    ({"tasks": [task(1, "text-to-speech", audio="artifact:aud1", text="x")]}, "takes no 'audio'"),
    ({"tasks": [task(1, "summarization", [2], text="<GENERATED>-2"), task(2, "summarization", [1], text="<GENERATED>-1")]}, "cycle"),
    ({"plan": []}, "top level"),
    ({"tasks": [task(1, "summarization", text="a"), task(1, "summarization", text="b")]}, "duplicate id"),
])
def test_invalid_plans_name_the_problem(raw: object, needle: str) -> None:
    found = problems(raw)
    assert any(needle in p for p in found), found


def test_literal_file_names_allowed_only_for_evaluation() -> None:
    raw = {"tasks": [task(1, "image-to-text", image="example.jpg")]}
    assert validate_plan(raw, handles={}, allow_literal_files=True).tasks[0].args["image"] == LiteralArg("example.jpg")


def test_model_outside_candidates_is_dropped_not_an_error() -> None:
    raw = {"tasks": [{**task(1, "text-to-image", text="a"), "model": "evil/model"},
                     {**task(2, "text-to-speech", text="b"), "model": "good/tts"}]}
    plan = validate_plan(raw, handles={}, candidates={"text-to-image": ["sd"], "text-to-speech": ["good/tts"]})
    assert plan.tasks[0].model is None
    assert plan.tasks[1].model == "good/tts"


def test_schema_lists_every_registry_task() -> None:
    from orchestrator import tasks

    enum = plan_schema()["properties"]["tasks"]["items"]["properties"]["task"]["enum"]
    assert set(enum) == set(tasks.TASKS)


def test_secondary_output_kind_can_feed_a_dependent() -> None:
    plan = validate_plan({"tasks": [task(1, "object-detection", image="artifact:img1"),
                                    task(2, "summarization", [1], text="<GENERATED>-1")]}, handles=H)
    assert plan.tasks[1].deps == (1,)
    assert any("outputs image or text" in p for p in problems(
        {"tasks": [task(1, "object-detection", image="artifact:img1"),
                   task(2, "automatic-speech-recognition", [1], audio="<GENERATED>-1")]}))


def test_references_come_out_typed_and_print_in_wire_form() -> None:
    raw = {"tasks": [task(1, "image-to-text", image=" artifact:img1 "),
                     task(2, "translation", [1], text="<GENERATED>-1", context="French")]}
    plan = validate_plan(raw, handles=H)
    assert plan.tasks[0].args == {"image": ArtifactRef("img1")}
    assert plan.tasks[1].args == {"text": Generated(1), "context": LiteralArg("French")}
    # users and the LLM protocol still see the string forms
    assert plan.to_json()[1]["args"] == {"text": "<GENERATED>-1", "context": "French"}
    assert plan.to_json()[0]["args"] == {"image": "artifact:img1"}


@pytest.mark.parametrize("value", [
    "<GENERATED>-x", "<GENERATED>-1x", "<GENERATED>- 1", "<GENERATED>-+1", "<GENERATED>--1", "<GENERATED>-1.0",
    "<GENERATED>-١", "<GENERATED>-²", "<GENERATED>-１", "<GENERATED>-", "<GENERATED>1", "<generated>-1",
    "<GENERATED>-1 and more", "translate <GENERATED>-1", "<GENERATED>-1234567", "＜GENERATED＞-1",
])
def test_malformed_generated_forms_are_plan_problems(value: str) -> None:
    raw = {"tasks": [task(1, "summarization", text="a"), task(2, "translation", [1], text=value, context="de")]}
    assert any("not a valid reference" in p or "not in its deps" in p for p in problems(raw))


def test_malformed_generated_without_deps_is_refused_not_raced() -> None:
    raw = {"tasks": [task(1, "summarization", text="a"), task(2, "translation", text="<GENERATED>- 1")]}
    assert any("not a valid reference" in p for p in problems(raw))


@pytest.mark.parametrize("value", ["artifact:../../etc/passwd", "artifact: img1", "ARTIFACT:img1", "artifact:", "artifact:im g1"])
def test_malformed_handles_are_plan_problems(value: str) -> None:
    found = problems({"tasks": [task(1, "image-to-text", image=value)]}, handles={**H, value: "image"})
    assert any("not a valid artifact handle" in p for p in found), found


@pytest.mark.parametrize("tid", ["²", "١", "12" * 4, pytest.param(10 ** 5000, id="huge"), -3, True, 1.5, None, [1]])
def test_odd_ids_are_plan_problems(tid: object) -> None:
    found = problems({"tasks": [{"id": tid, "task": "summarization", "deps": [], "args": {"text": "a"}}]})
    assert any("no integer 'id'" in p for p in found), found


def test_problem_sentences_stay_short_whatever_the_input() -> None:
    huge = "x" * 200_000
    raw = {"tasks": [{"id": 1, "task": huge, "deps": [], "args": {}},
                     {"id": 2, "task": "summarization", "deps": [], "args": {huge: "a", "text": huge}}]}
    found = problems(raw)
    assert len(found) == 3 and all(len(p) < 300 for p in found), found


@pytest.mark.parametrize(("content", "needle"), [
    ('{"tasks": [', "not valid JSON"),
    ('{"tasks": [{"id": ' + "9" * 5000 + "}]}", "number too long"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("```json\n{\"tasks\": []}\n```", None),
])
def test_parse_plan_json_raises_only_plan_errors(content: str, needle: str | None) -> None:
    if needle is None:
        assert parse_plan_json(content) == {"tasks": []}
        return
    with pytest.raises(PlanError) as info:
        parse_plan_json(content)
    assert any(needle in p for p in info.value.problems), info.value.problems
