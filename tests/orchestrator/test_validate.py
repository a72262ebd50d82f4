from __future__ import annotations

import pytest

from orchestrator.errors import PlanError
from orchestrator.validate import plan_schema, validate_plan

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
    assert validate_plan(raw, handles={}, allow_literal_files=True).tasks[0].args["image"] == "example.jpg"


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
