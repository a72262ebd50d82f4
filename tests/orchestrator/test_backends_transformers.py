"""TransformersBackend on tiny random models through the real pipeline code (outputs are gibberish:
these tests check types, kinds, files and labels)."""

from __future__ import annotations

import io
import re
import threading
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from orchestrator.backends import _audio
from orchestrator.backends.base import Device
from orchestrator.backends.transformers_backend import (
    TransformersBackend,
    TransformersModel,
    chat_prompt,
    resolve_pipeline_task,
    supported_pipeline_tasks,
)
from orchestrator.catalog import ModelCard
from orchestrator.errors import BackendUnavailable, InputError, ModelError
from orchestrator.types import FileOutput, TextOutput
from tests import tiny_models as tm

BACKEND = TransformersBackend()
_loaded: dict[tuple[str, str, str], TransformersModel] = {}


def card_for(models: dict[str, Path], task: str, model_task: str | None = None, **options: Any) -> ModelCard:
    path = models[model_task or task]
    return ModelCard(id=f"tiny/{path.name}", task=task, backend="transformers", path=str(path), options=options)


def load(models: dict[str, Path], task: str, **options: Any) -> TransformersModel:
    """Load once per (task, options) for the whole module: loads cost 0.1-0.5 s each."""
    key = (task, str(models[task]), repr(sorted(options.items())))
    if key not in _loaded:
        _loaded[key] = BACKEND.load(card_for(models, task, **options), Device())
    return _loaded[key]


def labels_of(text: str) -> list[str]:
    """'POSITIVE (0.51), NEGATIVE (0.49)' -> ['POSITIVE', 'NEGATIVE']"""
    return [m.strip() for m in re.findall(r"([^,(]+?) \((?:[A-Z-]+ )?[0-9.]+\)", text)]


def text_of(out: list[Any], index: int = 0) -> str:
    item = out[index]
    assert isinstance(item, TextOutput)
    return item.text


def decode_png(out: FileOutput) -> Image.Image:
    assert (out.kind, out.mime, out.suffix) == ("image", "image/png", ".png")
    img = Image.open(io.BytesIO(out.data))
    img.load()
    assert img.format == "PNG"
    return img


def test_available() -> None:
    assert BACKEND.available() is None


# --- task resolution ------------------------------------------------------------------------------

V5 = {"text-generation", "image-text-to-text", "text-classification", "feature-extraction", "text-to-audio"}
V4 = V5 | {"summarization", "translation", "question-answering", "image-to-text", "visual-question-answering"}


@pytest.mark.parametrize(("task", "family", "supported", "expected"), [
    ("summarization", "causal-lm", V5, "text-generation"),
    ("summarization", "causal-lm", V4, "text-generation"),  # a chat model answers even on v4
    ("summarization", "other", V4, "summarization"),  # a seq2seq model on v4
    ("question-answering", "other", V4, "question-answering"),
    ("conversational", "vlm", V5, "text-generation"),
    ("image-to-text", "vlm", V5, "image-text-to-text"),
    ("visual-question-answering", "other", V4, "visual-question-answering"),
    ("text-to-speech", "other", V5, "text-to-audio"),
    ("sentence-similarity", "other", V5, "feature-extraction"),
])
def test_resolve_pipeline_task(task: str, family: str, supported: set[str], expected: str) -> None:
    assert resolve_pipeline_task(task, family, supported) == expected


@pytest.mark.parametrize(("task", "family"), [
    ("summarization", "other"),  # v5 has no summarization pipeline: a seq2seq model cannot run it
    ("image-to-text", "causal-lm"),
    ("object-detection", "other"),  # not in the supported set given
    ("text-to-image", "other"),  # never a transformers task
])
def test_resolve_pipeline_task_refuses_readably(task: str, family: str) -> None:
    with pytest.raises(BackendUnavailable, match=task):
        resolve_pipeline_task(task, family, V5)


def test_installed_transformers_is_inspected() -> None:
    supported = supported_pipeline_tasks()
    assert "text-generation" in supported
    assert "text-to-speech" in supported or "text-to-audio" in supported


def test_chat_prompts_carry_the_task() -> None:
    assert "French" in chat_prompt("translation", {"text": "hello", "context": "French"})
    assert "English" in chat_prompt("translation", {"text": "bonjour"})
    qa = chat_prompt("question-answering", {"text": "Who?", "context": "Ann wrote it."})
    assert "Ann wrote it." in qa and "Who?" in qa
    assert chat_prompt("summarization", {"text": "long text"}).startswith("Summarize")
    assert chat_prompt("summarization", {"text": "long text"}).endswith("long text")
    assert chat_prompt("text-generation", {"text": "write a poem"}) == "write a poem"


# --- language -------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["text-generation", "conversational", "summarization", "translation",
                                  "question-answering", "text2text-generation"])
def test_text_tasks_run_as_chat_on_a_causal_lm(tiny_models: dict[str, Path], task: str) -> None:
    model = BACKEND.load(card_for(tiny_models, task, max_new_tokens=4), Device())
    assert model.pipeline_task == "text-generation"
    out = model.run(task, {"text": "the cat sits on the mat", "context": "French"})
    assert len(out) == 1 and isinstance(out[0], TextOutput)


def test_text_generation_without_chat_template_uses_plain_prompt(tiny_models: dict[str, Path]) -> None:
    model = load(tiny_models, "text-generation", max_new_tokens=4)
    template = model.pipe.tokenizer.chat_template
    model.pipe.tokenizer.chat_template = None
    try:
        assert not model.has_chat_template()
        out = model.run("text-generation", {"text": "hello world"})
    finally:
        model.pipe.tokenizer.chat_template = template
    assert isinstance(out[0], TextOutput)
    assert not out[0].text.startswith("hello world")  # return_full_text=False: the prompt is not echoed


def test_text_classification_labels(tiny_models: dict[str, Path]) -> None:
    out = load(tiny_models, "text-classification").run("text-classification", {"text": "i love it"})
    assert isinstance(out[0], TextOutput)
    assert sorted(labels_of(text_of(out))) == sorted(tm.TEXT_LABELS)


def test_zero_shot_uses_context_labels(tiny_models: dict[str, Path]) -> None:
    model = load(tiny_models, "zero-shot-classification")
    out = model.run("zero-shot-classification", {"text": "the cat sat", "context": "animals, finance ,sports"})
    assert sorted(labels_of(text_of(out))) == ["animals", "finance", "sports"]
    with pytest.raises(InputError, match="candidate labels"):
        model.run("zero-shot-classification", {"text": "the cat sat"})


def test_token_classification(tiny_models: dict[str, Path]) -> None:
    out = load(tiny_models, "token-classification").run("token-classification", {"text": "john lives in paris"})
    assert isinstance(out[0], TextOutput) and out[0].text


def test_sentence_similarity(tiny_models: dict[str, Path]) -> None:
    model = load(tiny_models, "sentence-similarity")
    same = model.run("sentence-similarity", {"text": "a cat sits", "context": "a cat sits"})
    other = model.run("sentence-similarity", {"text": "a cat sits", "context": "hello world , how are you"})
    scores = [float(text_of(o).split(":")[1]) for o in (same, other)]
    assert scores[0] == pytest.approx(1.0, abs=1e-3)
    assert -1.0 <= scores[1] <= 1.0
    with pytest.raises(InputError):
        model.run("sentence-similarity", {"text": "only one"})


# --- vision ---------------------------------------------------------------------------------------


def test_image_classification_labels(tiny_models: dict[str, Path], media_files: dict[str, Path]) -> None:
    out = load(tiny_models, "image-classification").run("image-classification", {"image": media_files["image"]})
    assert sorted(labels_of(text_of(out))) == sorted(tm.IMAGE_LABELS)


def test_object_detection_draws_boxes(tiny_models: dict[str, Path], media_files: dict[str, Path]) -> None:
    model = load(tiny_models, "object-detection", threshold=0.0)  # random weights score low
    png, text = model.run("object-detection", {"image": media_files["image"]})
    assert isinstance(png, FileOutput) and isinstance(text, TextOutput)
    img = decode_png(png)
    assert img.size == (48, 40)
    found = labels_of(text.text)
    assert found and set(found) <= set(tm.DETECTION_LABELS)
    assert np.asarray(img).tolist() != np.asarray(Image.open(media_files["image"]).convert("RGB")).tolist()


def test_image_segmentation_overlay(tiny_models: dict[str, Path], media_files: dict[str, Path]) -> None:
    png, text = load(tiny_models, "image-segmentation").run("image-segmentation", {"image": media_files["image"]})
    assert isinstance(png, FileOutput) and decode_png(png).size == (48, 40)
    assert isinstance(text, TextOutput)
    names = text.text.removeprefix("Segments: ").split(", ")
    assert set(names) <= set(tm.SEGMENT_LABELS)


def test_depth_estimation_map(tiny_models: dict[str, Path], media_files: dict[str, Path]) -> None:
    (png,) = load(tiny_models, "depth-estimation").run("depth-estimation", {"image": media_files["image"]})
    assert isinstance(png, FileOutput) and decode_png(png).mode == "L"


@pytest.mark.parametrize("task", ["image-to-text", "visual-question-answering", "document-question-answering"])
def test_vision_text_tasks_on_a_vlm(tiny_models: dict[str, Path], media_files: dict[str, Path], task: str) -> None:
    model = load(tiny_models, task, max_new_tokens=4)
    assert model.pipeline_task == "image-text-to-text"
    out = model.run(task, {"image": media_files["image"], "text": "what is this?"})
    assert len(out) == 1 and isinstance(out[0], TextOutput)


def test_vqa_needs_a_question(tiny_models: dict[str, Path], media_files: dict[str, Path]) -> None:
    with pytest.raises(InputError):
        load(tiny_models, "visual-question-answering", max_new_tokens=4).run(
            "visual-question-answering", {"image": media_files["image"]})


# --- audio ----------------------------------------------------------------------------------------


def test_read_audio_mixes_down_and_resamples(media_files: dict[str, Path]) -> None:
    wave, rate = _audio.read_audio(media_files["audio"], 16000)
    assert rate == 16000 and wave.ndim == 1 and wave.dtype == np.float32
    assert abs(len(wave) - 16000) <= 1  # 1 s at 22.05 kHz -> 1 s at 16 kHz


@pytest.mark.parametrize("audio", ["audio", "audio16k"])
def test_asr(tiny_models: dict[str, Path], media_files: dict[str, Path], audio: str) -> None:
    model = load(tiny_models, "automatic-speech-recognition")
    for _ in range(2):  # the pipeline pops keys from its input dict: a second call must still work
        out = model.run("automatic-speech-recognition", {"audio": media_files[audio]})
        assert isinstance(out[0], TextOutput)


def test_audio_classification_labels(tiny_models: dict[str, Path], media_files: dict[str, Path]) -> None:
    out = load(tiny_models, "audio-classification").run("audio-classification", {"audio": media_files["audio"]})
    assert sorted(labels_of(text_of(out))) == sorted(tm.AUDIO_LABELS)


def test_text_to_speech_wav(tiny_models: dict[str, Path]) -> None:
    model = load(tiny_models, "text-to-speech")
    assert model.pipeline_task == "text-to-audio"
    (out,) = model.run("text-to-speech", {"text": "hello world"})
    assert isinstance(out, FileOutput)
    assert (out.kind, out.mime, out.suffix) == ("audio", "audio/wav", ".wav")
    wave, rate = sf.read(io.BytesIO(out.data))
    assert rate == 16000 and wave.ndim == 1 and len(wave) > 0


# --- contracts ------------------------------------------------------------------------------------


def test_size_bytes_counts_parameters(tiny_models: dict[str, Path]) -> None:
    model = load(tiny_models, "text-classification")
    params = sum(p.numel() * p.element_size() for p in model.pipe.model.parameters())
    assert params <= model.size_bytes < params * 1.1


def test_forced_pipeline_option(tiny_models: dict[str, Path]) -> None:
    model = BACKEND.load(card_for(tiny_models, "sentence-similarity", pipeline="feature-extraction"), Device())
    assert model.pipeline_task == "feature-extraction"
    with pytest.raises(BackendUnavailable, match="no-such-pipeline"):
        BACKEND.load(card_for(tiny_models, "text-classification", pipeline="no-such-pipeline"), Device())


def test_task_the_model_cannot_run_is_backend_unavailable(tiny_models: dict[str, Path]) -> None:
    if "summarization" in supported_pipeline_tasks():
        pytest.skip("transformers 4 still runs summarization on seq2seq models")
    card = card_for(tiny_models, "summarization", model_task="text-classification")  # a BERT classifier
    with pytest.raises(BackendUnavailable, match="summarization"):
        BACKEND.load(card, Device())
    with pytest.raises(BackendUnavailable, match="does not run text-to-image"):
        BACKEND.load(card_for(tiny_models, "text-to-image"), Device())


def test_missing_input_is_input_error(tiny_models: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="image"):
        load(tiny_models, "image-classification").run("image-classification", {"text": "no image"})


def test_failures_become_model_errors(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"definitely not a png")
    with pytest.raises(ModelError, match="failed on image-classification") as info:
        load(tiny_models, "image-classification").run("image-classification", {"image": bad})
    assert info.value.__cause__ is not None


def test_concurrent_runs_on_one_model(tiny_models: dict[str, Path]) -> None:
    model = load(tiny_models, "text-classification")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                model.run("text-classification", {"text": "the quick brown fox " * 10})
        except BaseException as exc:  # collected: an assertion in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# --- transformers 4 pipelines (not installed here: driven with a scripted pipe) ---------------------


class ScriptedPipe:
    """Stands in for a transformers 4 pipeline: records the call, returns a canned answer."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        return self.answer


def scripted(pipeline_task: str, answer: Any, **options: Any) -> tuple[TransformersModel, ScriptedPipe]:
    pipe = ScriptedPipe(answer)
    card = ModelCard(id="v4/model", task=pipeline_task, backend="transformers", options=options)
    return TransformersModel(card=card, pipe=pipe, pipeline_task=pipeline_task, size_bytes=0), pipe


@pytest.mark.parametrize(("pipeline_task", "key"), [("summarization", "summary_text"),
                                                     ("translation", "translation_text"),
                                                     ("text2text-generation", "generated_text")])
def test_v4_text2text_pipelines(pipeline_task: str, key: str) -> None:
    model, pipe = scripted(pipeline_task, [{key: " short "}], generate={"max_length": 20})
    assert text_of(model.run(pipeline_task, {"text": "a long text"})) == "short"
    assert pipe.calls == [(("a long text",), {"max_length": 20})]


def test_v4_extractive_question_answering() -> None:
    model, pipe = scripted("question-answering", {"answer": "Ann", "score": 0.875})
    assert text_of(model.run("question-answering", {"text": "Who?", "context": "Ann wrote it."})) == "Ann (0.88)"
    assert pipe.calls[0][1] == {"question": "Who?", "context": "Ann wrote it."}
    with pytest.raises(InputError, match="context"):
        model.run("question-answering", {"text": "Who?"})


def test_v4_visual_question_answering_and_captioning(media_files: dict[str, Path]) -> None:
    model, pipe = scripted("visual-question-answering", [{"answer": "blue", "score": 0.5}])
    out = model.run("visual-question-answering", {"image": media_files["image"], "text": "what colour?"})
    assert text_of(out) == "blue (0.50)"
    assert isinstance(pipe.calls[0][1]["image"], Image.Image)
    model, pipe = scripted("image-to-text", [{"generated_text": "a blue square "}], max_new_tokens=7)
    assert text_of(model.run("image-to-text", {"image": media_files["image"]})) == "a blue square"
    assert pipe.calls[0][1]["generate_kwargs"]["max_new_tokens"] == 7


def test_card_precision_and_revision_reach_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from orchestrator.backends import transformers_backend as tb

    seen: dict[str, Any] = {}

    def fake_pipeline(task: str, model: Any = None, dtype: Any = None, **kwargs: Any) -> Any:
        seen.update(task=task, model=model, dtype=dtype, **kwargs)
        return SimpleNamespace(model=None)

    real = tb._transformers()
    monkeypatch.setitem(tb._modules, "transformers", SimpleNamespace(pipeline=fake_pipeline, pipelines=real.pipelines))
    qwen = ModelCard(id="Qwen/Qwen3-4B-Instruct-2507", task="summarization", backend="transformers", dtype="bfloat16",
                     revision="cafe1234", options={"pipeline": "text-generation"})
    BACKEND.load(qwen, Device("cpu", half=True))
    assert seen["dtype"] is torch.bfloat16 and seen["revision"] == "cafe1234" and seen["trust_remote_code"] is False
    seen.clear()
    BACKEND.load(replace(qwen, dtype=""), Device("cpu", half=True))
    assert seen["dtype"] is torch.float16  # a card naming no dtype gets fp16 on a half device
    seen.clear()
    BACKEND.load(replace(qwen, path="/models/qwen"), Device())
    assert seen["dtype"] is None and "revision" not in seen  # a local copy has no hub revision
    with pytest.raises(ModelError, match="unknown dtype"):
        tb.torch_dtype(replace(qwen, dtype="float7"), Device("cpu", half=True))
