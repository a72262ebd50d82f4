"""``image-to-text`` without a captioning model: read the text when the image has some, otherwise
say what the ImageNet classifier sees, and that no captioning model runs here.

No PyPI wheel ships captioning weights, and OCR alone answered "what's in this picture?" of a cat
with "0". Text wins when there is real text (a sign, a receipt, a page), so "read this" and
OCR → speech chains get exactly the text; a picture gets its classes, labelled as such.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..catalog import ModelCard
from ..types import Output, TextOutput
from . import get_backend
from .base import Device, Inputs, LoadedModel
from .ocr import NO_TEXT

# Real text has at least this many letters in words of two or more (OCR finds "0" or "|" in photos).
_WORD = re.compile(r"[^\W\d_]{2,}")


def has_real_text(text: str, min_letters: int) -> bool:
    return text != NO_TEXT and sum(len(w) for w in _WORD.findall(text)) >= min_letters


@dataclass
class DescribeModel:
    ocr: LoadedModel
    load_classifier: Callable[[], LoadedModel]
    size_bytes: int
    min_letters: int
    _classifier: LoadedModel | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def classifier(self) -> LoadedModel:
        """Loaded on the first picture without text: reading a sign never imports torch."""
        with self._lock:
            if self._classifier is None:
                self._classifier = self.load_classifier()
            return self._classifier

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        read = "\n".join(o.text for o in self.ocr.run("image-to-text", inputs) if isinstance(o, TextOutput))
        if has_real_text(read, self.min_letters):
            return [TextOutput(read)]
        classes = " ".join(o.text for o in self.classifier().run("image-classification", inputs)
                           if isinstance(o, TextOutput))
        return [TextOutput(f"No captioning model runs here, so this is what the image classifier sees. {classes}")]


class DescribeBackend:
    """``image-describe`` backend: the ``rapidocr`` and ``efficientnet-lite`` backends together.
    Options: ``min_letters`` (default 3), ``ocr`` / ``classifier`` (options for each model)."""

    name = "image-describe"
    tasks = frozenset({"image-to-text"})
    per_task = False

    def available(self) -> str | None:
        return get_backend("rapidocr").available() or get_backend("efficientnet-lite").available()

    def load(self, card: ModelCard, device: Device) -> DescribeModel:
        ocr_card = replace(card, backend="rapidocr", options=dict(card.options.get("ocr") or {}))
        cls_card = replace(card, task="image-classification", backend="efficientnet-lite",
                           options=dict(card.options.get("classifier") or {}))
        ocr = get_backend("rapidocr").load(ocr_card, device)
        classifier_size = 18_826_032  # EfficientNet-Lite0's weights, counted before they load

        def load_classifier() -> LoadedModel:
            return get_backend("efficientnet-lite").load(cls_card, device)

        return DescribeModel(ocr, load_classifier, ocr.size_bytes + classifier_size,
                             int(card.options.get("min_letters", 3)))
