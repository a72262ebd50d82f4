"""The transformers backend: one ``transformers.pipeline`` per catalog card.

hgbot task names follow HuggingGPT; transformers 5 removed several of them (summarization,
translation, question-answering, visual-question-answering, ...). ``resolve_pipeline_task``
decides, from what the installed transformers offers (``SUPPORTED_TASKS``) and the model's
config, which pipeline serves a task, so one catalog works on transformers 4 and 5:

- text tasks on a causal LM run as a chat prompt on ``text-generation``;
- image + text tasks on a vision-language model run on ``image-text-to-text``;
- otherwise the classic pipeline of the same name, when it exists;
- ``text-to-speech`` is ``text-to-audio``; ``sentence-similarity`` is ``feature-extraction``
  with mean pooling and cosine similarity.

A card may force the pipeline with ``options["pipeline"]``. Other card options:
``load`` (extra ``pipeline()`` kwargs), ``max_new_tokens``, ``generate`` (generation kwargs),
``top_k``, ``threshold`` (object detection), ``prompt`` (a fixed text prefix for a captioner). The card's ``dtype`` (on a half-precision device) and
``revision`` (a hub commit) are passed to ``pipeline()``. Nothing here ever sets
``trust_remote_code`` or touches ``HF_HUB_OFFLINE``.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..catalog import ModelCard
from ..errors import BackendUnavailable, HgbotError, InputError, ModelError
from ..prompts import vision_prompt
from ..types import Output, TextOutput
from . import _audio, _image, control_maps
from ._common import chat_messages, chat_prompt, missing
from .base import Device, Inputs

_import_lock = threading.Lock()
_modules: dict[str, ModuleType] = {}

# Held around every from_pretrained, by this backend and the diffusers one: low-memory loading
# (accelerate's init_empty_weights) patches torch.nn.Module process-wide, so two loads in two
# threads at once leave weights on the meta device ("Cannot copy out of meta tensor").
LOAD_LOCK = threading.RLock()


def _transformers() -> ModuleType:
    """Import torch and transformers once, under a lock.

    Two threads importing transformers 5 for the first time at once can see a half-initialised
    module (``cannot import name 'pipeline'``); the cache loads models in worker threads.
    """
    with _import_lock:
        if "transformers" not in _modules:
            import torch  # noqa: F401  (imported first: transformers checks for it)
            import transformers
            from transformers import pipeline  # noqa: F401  (forces the lazy module to resolve)

            _modules["transformers"] = transformers
        return _modules["transformers"]


# --- which pipeline serves a task ---------------------------------------------------------------

# hgbot tasks that a causal LM answers from a chat prompt.
CHAT_TASKS = frozenset({"summarization", "translation", "text2text-generation", "question-answering",
                        "conversational", "text-generation", "tabular-classification"})
# hgbot tasks that take an image and answer in words.
VISION_TEXT_TASKS = frozenset({"image-to-text", "visual-question-answering", "document-question-answering"})
# hgbot task -> pipeline task, where the model needs no inspection.
DIRECT: dict[str, str] = {
    "text-classification": "text-classification",
    "token-classification": "token-classification",
    "zero-shot-classification": "zero-shot-classification",
    "image-classification": "image-classification",
    "object-detection": "object-detection",
    "image-segmentation": "image-segmentation",
    "depth-estimation": "depth-estimation",
    "automatic-speech-recognition": "automatic-speech-recognition",
    "audio-classification": "audio-classification",
    "text-to-speech": "text-to-audio",
    "sentence-similarity": "feature-extraction",
}


def supported_pipeline_tasks() -> set[str]:
    """Pipeline task names the installed transformers accepts (aliases included)."""
    pipelines = _transformers().pipelines
    tasks = set(getattr(pipelines, "SUPPORTED_TASKS", {}))
    tasks |= set(getattr(pipelines, "TASK_ALIASES", {}))
    return tasks


def _model_family(config: Any) -> str:
    """``"vlm"``, ``"causal-lm"`` or ``"other"``, from transformers' own auto-model tables.

    The saved ``architectures`` decide when present: ``bert`` is in the causal-LM table (as
    BertLMHeadModel), yet a BertForSequenceClassification checkpoint is no language model.
    """
    from transformers.models.auto import modeling_auto

    tables = (("vlm", getattr(modeling_auto, "MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES", {})),
              ("causal-lm", getattr(modeling_auto, "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES", {})))
    architectures = list(getattr(config, "architectures", None) or [])
    model_type = getattr(config, "model_type", "")
    for family, table in tables:
        if architectures:
            classes = {c for v in table.values() for c in ((v,) if isinstance(v, str) else v)}
            if any(a in classes for a in architectures):
                return family
        elif model_type in table:
            return family
    return "other"


def resolve_pipeline_task(task: str, family: str, supported: set[str]) -> str:
    """The pipeline task that runs hgbot ``task`` on a model of ``family`` (see ``_model_family``).

    Raises BackendUnavailable when the installed transformers has no way to run it.
    """
    if task in DIRECT:
        wanted = DIRECT[task]
        if wanted in supported:
            return wanted
        raise BackendUnavailable(f"The installed transformers has no {wanted!r} pipeline for {task}.")
    if task in CHAT_TASKS:
        if family in ("causal-lm", "vlm") and "text-generation" in supported:
            return "text-generation"
        if task in supported:  # transformers 4: summarization, translation, question-answering, ...
            return task
        raise BackendUnavailable(
            f"The installed transformers cannot run {task} on this model: it is not a causal language "
            f"model and transformers has no {task!r} pipeline any more.",
            hint="Pick a chat/instruct model for this task in the catalog.")
    if task in VISION_TEXT_TASKS:
        if family == "vlm" and "image-text-to-text" in supported:
            return "image-text-to-text"
        if task in supported:  # transformers 4: image-to-text, visual-question-answering
            return task
        raise BackendUnavailable(
            f"The installed transformers cannot run {task} on this model: it is not a vision-language "
            f"model and transformers has no {task!r} pipeline.")
    raise BackendUnavailable(f"The transformers backend does not run {task}.")


# --- prompts --------------------------------------------------------------------------------------


def _text(inputs: Inputs, key: str = "text") -> str:
    value = inputs.get(key)
    if value is None or not str(value).strip():
        raise InputError(f"This task needs a {key} input.")
    return str(value)


def _path(inputs: Inputs, key: str) -> Path:
    value = inputs.get(key)
    if value is None:
        raise InputError(f"This task needs an {key} input.")
    return Path(value)


def _scores(items: list[dict[str, Any]], limit: int = 5) -> str:
    return ", ".join(f"{it['label']} ({float(it['score']):.2f})" for it in items[:limit])


# --- the loaded model -----------------------------------------------------------------------------

Runner = Callable[["TransformersModel", str, Inputs], list[Output]]


@dataclass
class TransformersModel:
    """A loaded pipeline. ``run`` is blocking and serialised per model: fast tokenizers raise
    'Already borrowed' when two threads use them at once, and some pipelines mutate their inputs."""

    card: ModelCard
    pipe: Any
    pipeline_task: str
    size_bytes: int

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @property
    def options(self) -> dict[str, Any]:
        return self.card.options

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        runner = RUNNERS.get(self.pipeline_task)
        if runner is None:
            raise BackendUnavailable(f"The transformers backend cannot use a {self.pipeline_task!r} pipeline.")
        with self._lock:
            try:
                return runner(self, task, inputs)
            except HgbotError:
                raise
            except Exception as exc:
                reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
                raise ModelError(f"{self.card.id} failed on {task}: {reason}") from exc

    def generate_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": int(self.options.get("max_new_tokens", 256)), "do_sample": False}
        kwargs.update(self.options.get("generate", {}))
        return kwargs

    def has_chat_template(self) -> bool:
        for holder in (getattr(self.pipe, "processor", None), getattr(self.pipe, "tokenizer", None)):
            if holder is not None and getattr(holder, "chat_template", None):
                return True
        return False


def _last_message(generated: Any) -> str:
    """The assistant's text from a pipeline's ``generated_text`` (a string or a message list)."""
    if isinstance(generated, list):
        content = generated[-1].get("content", "") if generated else ""
        if isinstance(content, list):  # structured content: keep the text parts
            return "".join(c.get("text", "") for c in content if isinstance(c, dict))
        return str(content)
    return str(generated)


def _run_chat(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    kwargs = m.generate_kwargs()
    if m.has_chat_template():
        out = m.pipe(chat_messages(task, inputs), **kwargs)
    else:
        out = m.pipe(chat_prompt(task, inputs), return_full_text=False, **kwargs)
    return [TextOutput(_last_message(out[0]["generated_text"]).strip())]


def _run_vlm(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    image = _image.open_image(_path(inputs, "image"))
    # a captioner (BLIP) continues a text prefix rather than following an instruction: its card
    # names the prefix it was trained with ("a photography of")
    prompt = str(m.options.get("prompt") or vision_prompt(task, str(inputs.get("text", "")).strip()))
    if not prompt:
        raise InputError(f"{task} needs a question (text input).")
    # generate_kwargs, not plain kwargs: plain ones go to the processor and are ignored
    kwargs = {"generate_kwargs": m.generate_kwargs()}
    if m.has_chat_template():
        messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": prompt}]}]
        out = m.pipe(text=messages, return_full_text=False, **kwargs)
    else:
        out = m.pipe(images=image, text=prompt, return_full_text=False, **kwargs)
    return [TextOutput(_last_message(out[0]["generated_text"]).strip())]


def _run_caption(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    out = m.pipe(_image.open_image(_path(inputs, "image")), generate_kwargs=m.generate_kwargs())
    return [TextOutput(str(out[0]["generated_text"]).strip())]


def _run_image_qa(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    out = m.pipe(image=_image.open_image(_path(inputs, "image")), question=_text(inputs), top_k=1)
    best = out[0] if isinstance(out, list) else out
    return [TextOutput(f"{best['answer']} ({float(best['score']):.2f})")]


def _run_text2text(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    out = m.pipe(_text(inputs), **m.options.get("generate", {}))
    first = out[0]
    key = next((k for k in ("summary_text", "translation_text", "generated_text") if k in first), None)
    return [TextOutput(str(first[key] if key else first).strip())]


def _run_extractive_qa(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    out = m.pipe(question=_text(inputs), context=_text(inputs, "context"))
    return [TextOutput(f"{out['answer']} ({float(out['score']):.2f})")]


def _run_text_classification(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    out = m.pipe(_text(inputs), top_k=int(m.options.get("top_k", 5)))
    items = out[0] if out and isinstance(out[0], list) else out
    return [TextOutput(_scores(items))]


def _run_zero_shot(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    labels = [s.strip() for s in str(inputs.get("context", "")).split(",") if s.strip()]
    if not labels:
        raise InputError("Zero-shot classification needs candidate labels (context: comma-separated labels).")
    out = m.pipe(_text(inputs), candidate_labels=labels)
    return [TextOutput(_scores([{"label": lab, "score": s} for lab, s in zip(out["labels"], out["scores"], strict=True)]))]


def _run_token_classification(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    out = m.pipe(_text(inputs), aggregation_strategy="simple")
    if not out:
        return [TextOutput("No entities found.")]
    parts = [f"{e['word']} ({e.get('entity_group', e.get('entity'))} {float(e['score']):.2f})" for e in out]
    return [TextOutput(", ".join(parts))]


def _run_image_classification(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    out = m.pipe(_image.open_image(_path(inputs, "image")), top_k=int(m.options.get("top_k", 5)))
    return [TextOutput(_scores(out))]


def _run_object_detection(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    image = _image.open_image(_path(inputs, "image"))
    found = m.pipe(image, threshold=float(m.options.get("threshold", 0.5)))
    found = sorted(found, key=lambda d: -float(d["score"]))
    text = _scores(found, limit=20) if found else "No objects found."
    png = _image.png_output(_image.draw_boxes(image, found), description=f"detected: {text}")
    return [png, TextOutput(text)]


def _run_segmentation(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    image = _image.open_image(_path(inputs, "image"))
    segments = m.pipe(image)
    labels = ", ".join(str(s["label"]) for s in segments) or "no segments"
    if task == "seg-control":
        label2id = dict(getattr(m.pipe.model.config, "label2id", None) or {})
        seg_map = control_maps.ade20k_map(image.size, segments, label2id)
        return [_image.png_output(seg_map, description=f"ADE20K segmentation map: {labels}")]
    png = _image.png_output(_image.overlay_masks(image, [s["mask"] for s in segments]), description=f"segments: {labels}")
    return [png, TextOutput(f"Segments: {labels}")]


def _run_depth(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    out = m.pipe(_image.open_image(_path(inputs, "image")))
    depth = out["depth"] if out.get("depth") is not None else out["predicted_depth"]
    return [_image.png_output(_image.depth_image(depth), description="depth map")]


def _sampling_rate(m: TransformersModel) -> int:
    fe = getattr(m.pipe, "feature_extractor", None)
    return int(getattr(fe, "sampling_rate", 16000) or 16000)


def _audio_input(m: TransformersModel, inputs: Inputs) -> dict[str, Any]:
    wave, rate = _audio.read_audio(_path(inputs, "audio"), _sampling_rate(m))
    # a fresh dict on every call: the ASR pipeline pops keys from it
    return {"raw": wave, "sampling_rate": rate}


def _run_asr(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    kwargs: dict[str, Any] = {}
    if "chunk_length_s" in m.options:
        kwargs["chunk_length_s"] = float(m.options["chunk_length_s"])
    if m.options.get("generate"):
        kwargs["generate_kwargs"] = dict(m.options["generate"])
    out = m.pipe(_audio_input(m, inputs), **kwargs)
    return [TextOutput(str(out["text"]).strip())]


def _run_audio_classification(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    out = m.pipe(_audio_input(m, inputs), top_k=int(m.options.get("top_k", 5)))
    return [TextOutput(_scores(out))]


def _run_tts(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    out = m.pipe(_text(inputs))
    return [_audio.wav_output(out["audio"], int(out["sampling_rate"]), description="speech")]


def _run_similarity(m: TransformersModel, task: str, inputs: Inputs) -> list[Output]:
    import torch

    a, b = _text(inputs), _text(inputs, "context")
    vectors = []
    for sentence in (a, b):
        hidden = m.pipe(sentence, return_tensors=True)  # (1, tokens, dim)
        vectors.append(torch.as_tensor(hidden).float().reshape(-1, hidden.shape[-1]).mean(dim=0))
    score = float(torch.nn.functional.cosine_similarity(vectors[0], vectors[1], dim=0))
    return [TextOutput(f"Similarity: {score:.3f}")]


RUNNERS: dict[str, Runner] = {
    "text-generation": _run_chat,
    "image-text-to-text": _run_vlm,
    "image-to-text": _run_caption,
    "visual-question-answering": _run_image_qa,
    "document-question-answering": _run_image_qa,
    "summarization": _run_text2text,
    "translation": _run_text2text,
    "text2text-generation": _run_text2text,
    "question-answering": _run_extractive_qa,
    "text-classification": _run_text_classification,
    "sentiment-analysis": _run_text_classification,
    "zero-shot-classification": _run_zero_shot,
    "token-classification": _run_token_classification,
    "ner": _run_token_classification,
    "image-classification": _run_image_classification,
    "object-detection": _run_object_detection,
    "image-segmentation": _run_segmentation,
    "depth-estimation": _run_depth,
    "automatic-speech-recognition": _run_asr,
    "audio-classification": _run_audio_classification,
    "text-to-audio": _run_tts,
    "text-to-speech": _run_tts,
    "feature-extraction": _run_similarity,
}


def torch_dtype(card: ModelCard, device: Device) -> Any:
    """The torch dtype to load ``card`` in: its published ``dtype`` (bf16 for Qwen3, FLUX, Wan) when
    the device runs half precision, fp16 for cards that name none, None (fp32) on the CPU."""
    if not device.half:
        return None
    import torch

    name = card.dtype or "float16"
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ModelError(f"{card.id}: unknown dtype {name!r} in the catalog.")
    return dtype


def parameter_bytes(model: Any) -> int:
    """Bytes held by a torch module's parameters and buffers (0 for anything else)."""
    total = 0
    for getter in ("parameters", "buffers"):
        fn = getattr(model, getter, None)
        if callable(fn):
            total += sum(t.numel() * t.element_size() for t in fn())
    return total


# --- the backend ----------------------------------------------------------------------------------


class TransformersBackend:
    """Runs catalog cards with ``backend: transformers`` through ``transformers.pipeline``."""

    name = "transformers"
    tasks: frozenset[str] = frozenset()  # decided per model: the pipeline it offers
    per_task = True

    def available(self) -> str | None:
        return missing("torch", "transformers", extra="models")

    def pipeline_task(self, card: ModelCard) -> str:
        """The pipeline task this card runs on (forced by ``options["pipeline"]`` or resolved)."""
        transformers = _transformers()
        forced = card.options.get("pipeline")
        if forced:
            return str(forced)
        family = "other"
        if card.task in CHAT_TASKS or card.task in VISION_TEXT_TASKS:
            # at the pinned commit: a pull at a commit leaves no refs/main to resolve offline
            revision = {"revision": card.revision} if card.revision and not card.path else {}
            config = transformers.AutoConfig.from_pretrained(card.source, trust_remote_code=False, **revision)
            family = _model_family(config)
        return resolve_pipeline_task(card.task, family, supported_pipeline_tasks())

    def load(self, card: ModelCard, device: Device) -> TransformersModel:
        """Build the pipeline (blocking). Raises BackendUnavailable for a task this model cannot run;
        other failures propagate as the library raised them (the cache wraps them in ModelError)."""
        transformers = _transformers()

        task = self.pipeline_task(card)
        if task not in RUNNERS:
            raise BackendUnavailable(f"The transformers backend cannot use a {task!r} pipeline (card {card.id}).")
        kwargs: dict[str, Any] = {"model": card.source, "trust_remote_code": False}
        dtype = torch_dtype(card, device)
        if dtype is not None:
            # transformers >= 4.56 calls it dtype; older releases torch_dtype
            dtype_key = "dtype" if "dtype" in inspect.signature(transformers.pipeline).parameters else "torch_dtype"
            kwargs[dtype_key] = dtype
        if card.revision and not card.path:
            kwargs["revision"] = card.revision
        load_options = dict(card.options.get("load", {}))
        if "device_map" not in load_options:
            kwargs["device"] = device.name
        kwargs.update(load_options)
        kwargs["trust_remote_code"] = False  # never, whatever the card says
        with LOAD_LOCK:
            pipe = transformers.pipeline(task, **kwargs)
        return TransformersModel(card=card, pipe=pipe, pipeline_task=task, size_bytes=parameter_bytes(pipe.model))
