from __future__ import annotations

from pathlib import Path

from orchestrator.llm import OpenAILLM, start_counting
from orchestrator.responder import Responder, fallback_answer
from orchestrator.types import Artifact, Plan, PlanTask, RunStatus, TaskRun
from tests.fakes.llm_server import FakeLLMServer, HttpError

AUDIO = Artifact(id="a9", conversation_id=1, kind="audio", mime="audio/wav", path=Path("/tmp/x.wav"), size=3,
                 task="text-to-speech", model="tts-1")


def runs_ocr_tts() -> tuple[Plan, list[TaskRun]]:
    plan = Plan((PlanTask(1, "image-to-text", (), {"image": "artifact:i"}), PlanTask(2, "text-to-speech", (1,), {"text": "<GENERATED>-1"})))
    r1 = TaskRun(1, "image-to-text", "ocr", RunStatus.OK, texts=["OPEN 9 TO 5"])
    r2 = TaskRun(2, "text-to-speech", "tts-1", RunStatus.OK, artifacts=[AUDIO])
    return plan, [r1, r2]


def llm(url: str) -> OpenAILLM:
    return OpenAILLM(model="m", base_url=url, api_key="k", max_retries=0)


async def test_single_text_result_skips_the_llm(fake_llm: FakeLLMServer) -> None:
    plan = Plan((PlanTask(1, "summarization", (), {"text": "long"}),))
    runs = [TaskRun(1, "summarization", "s", RunStatus.OK, texts=["short"])]
    counter = start_counting()
    text = await Responder(llm(fake_llm.base_url)).respond(request="sum", history=[], plan=plan, runs=runs)
    assert text == "short" and counter.calls == 0 and not fake_llm.requests


async def test_results_go_to_one_streamed_call(fake_llm: FakeLLMServer) -> None:
    fake_llm.script("The sign says OPEN 9 TO 5; the attached audio reads it.")
    plan, runs = runs_ocr_tts()
    deltas: list[str] = []

    async def on_delta(c: str) -> None:
        deltas.append(c)

    text = await Responder(llm(fake_llm.base_url)).respond(request="read aloud", history=[], plan=plan, runs=runs,
                                                           on_delta=on_delta)
    assert text.startswith("The sign says") and len(deltas) > 1
    sent = fake_llm.requests[0]
    assert sent["stream"] is True
    prompt = sent["messages"][-1]["content"]
    assert "OPEN 9 TO 5" in prompt and "/tmp/x.wav" not in prompt
    # where each input came from, truthfully: the audio is this step's own, its text came from step 1
    assert "text-to-speech (tts-1) on the text from step 1: [audio made by this step]" in prompt


async def test_llm_failure_keeps_the_results(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(HttpError(500, {"error": {"message": "boom"}}))
    plan, runs = runs_ocr_tts()
    text = await Responder(llm(fake_llm.base_url)).respond(request="x", history=[], plan=plan, runs=runs)
    assert "OPEN 9 TO 5" in text and "audio, sent with this reply" in text and "boom" in text


def test_fallback_names_failures_and_skips() -> None:
    runs = [TaskRun(1, "image-to-text", "ocr", RunStatus.FAILED, error="ocr: corrupt image"),
            TaskRun(2, "text-to-speech", None, RunStatus.SKIPPED, error="skipped because task 1 failed")]
    text = fallback_answer(runs)
    assert "failed — ocr: corrupt image" in text and "skipped because task 1" in text


async def test_chat_without_any_llm_says_how_to_enable_it() -> None:
    text = await Responder(None).respond(request="hello", history=[], plan=Plan(()), runs=[])
    assert "OPENAI_BASE_URL" in text


def _art(aid: str, kind: str, task: str | None = None) -> Artifact:
    return Artifact(id=aid, conversation_id=1, kind=kind, mime="x/y", path=Path(f"/tmp/{aid}"), size=1, task=task)  # type: ignore[arg-type]


def test_fallback_says_where_each_input_came_from() -> None:
    """Issue 13: a file the bot made is not "the attached audio"; inputs are named by their origin."""
    new, made, sent = _art("new", "image"), _art("made", "audio", "text-to-speech"), _art("sent", "image")
    plan = Plan((PlanTask(1, "image-to-text", (), {"image": "artifact:new"}),
                 PlanTask(2, "text-to-speech", (1,), {"text": "<GENERATED>-1"}),
                 PlanTask(3, "automatic-speech-recognition", (), {"audio": "artifact:made"}),
                 PlanTask(4, "image-classification", (), {"image": "artifact:sent"}),
                 PlanTask(5, "text-to-speech", (), {"text": "hello world"})))
    runs = [TaskRun(1, "image-to-text", "ocr", RunStatus.OK, texts=["OPEN"]),
            TaskRun(2, "text-to-speech", "tts", RunStatus.OK, artifacts=[AUDIO]),
            TaskRun(3, "automatic-speech-recognition", "asr", RunStatus.OK, texts=["open"]),
            TaskRun(4, "image-classification", "cls", RunStatus.OK, texts=["sign"]),
            TaskRun(5, "text-to-speech", "tts", RunStatus.OK, artifacts=[AUDIO])]
    lines = fallback_answer(runs, plan, [new, made, sent], ["artifact:new"]).splitlines()
    assert lines[1] == "1. **image-to-text** with `ocr` on the image you attached: “OPEN”"
    assert lines[2] == "2. **text-to-speech** with `tts` on the text from step 1: audio, sent with this reply"
    assert lines[3].startswith("3. **automatic-speech-recognition** with `asr` on the audio I made earlier:")
    assert lines[4].startswith("4. **image-classification** with `cls` on the image you sent earlier:")
    assert lines[5].startswith("5. **text-to-speech** with `tts` on “hello world”:")
    assert "attached audio" not in "\n".join(lines)
