"""OCR with rapidocr: PP-OCR detection + recognition ONNX models bundled in the rapidocr wheel.

Serves ``image-to-text`` as "read the text in this image". The reply is the recognised lines
in reading order (top to bottom, then left to right), one per line; an image with no text
gives a sentence saying so rather than an empty string.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import ModelCard
from ..errors import ModelError
from ..types import Output, TextOutput
from ._common import dir_size, file_input, missing
from .base import Device, Inputs

NO_TEXT = "No text found in the image."


def reading_order(boxes: Any, texts: tuple[str, ...]) -> list[str]:
    """Sort OCR lines top-to-bottom, then left-to-right; lines whose vertical centres are
    within half a line height of each other count as one row (detectors return them in
    confidence or scan order, which is not reading order)."""
    items = []
    for box, text in zip(boxes, texts, strict=False):
        ys = [float(p[1]) for p in box]
        xs = [float(p[0]) for p in box]
        items.append(((min(ys) + max(ys)) / 2, max(ys) - min(ys), min(xs), text))
    items.sort(key=lambda it: it[0])
    rows: list[list[tuple[float, float, float, str]]] = []
    for it in items:
        if rows and abs(it[0] - rows[-1][0][0]) < max(it[1], rows[-1][0][1]) / 2:
            rows[-1].append(it)
        else:
            rows.append([it])
    out: list[str] = []
    for row in rows:
        out.append(" ".join(t for *_, t in sorted(row, key=lambda it: it[2])))
    return out


@dataclass
class OcrModel:
    engine: Any
    size_bytes: int

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        path = file_input(inputs, "image")
        try:
            result = self.engine(str(path))
        except Exception as exc:  # rapidocr raises bare exceptions on unreadable images
            raise ModelError(f"OCR failed on {path.name}: {exc}") from exc
        texts = tuple(result.txts or ())
        if not texts:
            return [TextOutput(NO_TEXT)]
        return [TextOutput("\n".join(reading_order(result.boxes, texts)))]


class RapidOcrBackend:
    """``rapidocr`` backend: card options are passed to ``RapidOCR(params=...)`` unchanged."""

    name = "rapidocr"
    tasks = frozenset({"image-to-text"})
    per_task = False

    def available(self) -> str | None:
        return missing("rapidocr", "onnxruntime")

    def load(self, card: ModelCard, device: Device) -> OcrModel:
        from rapidocr import RapidOCR

        # rapidocr logs every model path at INFO on its own handler, and resets its level from its
        # config in RapidOCR(): ask it for warnings only, unless the card says otherwise.
        params = {"Global.log_level": "warning", **card.options}
        engine = RapidOCR(params=params)
        spec = importlib.util.find_spec("rapidocr")
        models = Path(spec.origin).parent / "models" if spec and spec.origin else None
        size = dir_size(models) if models and models.is_dir() else card.size
        return OcrModel(engine, size)
