"""Weight-free image tasks in plain Python: the Canny control map and simple image edits.

- ``canny-control``: OpenCV Canny edges, white on black, 3-channel (what ControlNet expects).
- ``image-to-image``: the edits named in the instruction text, applied in the order they are
  written: grayscale, invert, flip (horizontal or vertical), rotate (degrees; left/right),
  blur, sharpen. This is the offline "image editing" fallback, not a generative model: an
  instruction it cannot parse is an InputError naming what it can do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..catalog import ModelCard
from ..errors import InputError, ModelError
from ..types import FileOutput, Output
from ._common import file_input, missing, open_rgb, optional_text, png_bytes
from .base import Device, Inputs

if TYPE_CHECKING:
    from PIL import Image

SUPPORTED_EDITS = "grayscale, invert, flip (horizontal/vertical), rotate (e.g. 'rotate 90 degrees left'), blur, sharpen"

Edit = Callable[["Image.Image"], "Image.Image"]

# Each pattern finds one edit in free text; the match gives its parameters.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("grayscale", re.compile(r"\b(gr[ae]y\s*scale|gr[ae]y|black[\s-]and[\s-]white|b\s*&\s*w|monochrome|desaturate)\b")),
    ("invert", re.compile(r"\b(invert|negative)\b")),
    ("flip", re.compile(r"\b(flip|mirror)\w*(?P<rest>[^.,;]*)")),
    ("upside_down", re.compile(r"\bupside[\s-]down\b")),
    ("rotate", re.compile(r"\brotat\w*(?P<rest>[^.,;]*)")),
    # "turn" rotates only with a direction or an angle: "turn my photo into a pencil drawing" is no
    # rotation (it was rotated 90 degrees), "turn it 90 degrees left" is
    ("rotate", re.compile(r"\bturn\w*(?P<rest>[^.,;]*?\b(?:\d{1,3}\s*(?:°|deg\w*)|left|right|clockwise"
                          r"|counter-?clockwise|anti-?clockwise|sideways)(?![\w-])[^.,;]*)")),
    ("blur", re.compile(r"\b(blur\w*|soften|smooth)\b")),
    ("sharpen", re.compile(r"\bsharpen\w*\b")),
]


def _flip(rest: str) -> Edit:
    from PIL import ImageOps

    vertical = bool(re.search(r"vertical|top|bottom|upside", rest))
    return ImageOps.flip if vertical else ImageOps.mirror


def _rotate(rest: str) -> Edit:
    m = re.search(r"(-?\d{1,3})\s*(°|deg|degrees?)?", rest)
    degrees = int(m.group(1)) if m else 90
    # PIL rotates counter-clockwise; "right"/"clockwise" means the other way.
    if re.search(r"\bright\b|(?<!counter)(?<!counter-)(?<!anti)(?<!anti-)clockwise", rest):
        degrees = -degrees
    return lambda img: img.rotate(degrees, expand=True)


def parse_edits(instruction: str) -> list[tuple[str, Edit]]:
    """The edits named in ``instruction``, in the order they appear. Empty when none match."""
    from PIL import ImageFilter, ImageOps

    text = instruction.lower()
    found: list[tuple[int, str, Edit]] = []
    for name, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            rest = m.groupdict().get("rest") or ""
            edit: Edit
            if name == "grayscale":
                edit = lambda img: ImageOps.grayscale(img).convert("RGB")  # noqa: E731
            elif name == "invert":
                edit = ImageOps.invert
            elif name == "flip":
                edit = _flip(rest)
            elif name == "upside_down":
                if any(n == "flip" and p <= m.start() < p + 40 for p, n, _ in found):
                    continue  # "flip it upside down" is one edit, already taken as a vertical flip
                edit = lambda img: img.rotate(180)  # noqa: E731
            elif name == "rotate":
                edit = _rotate(rest)
            elif name == "blur":
                edit = lambda img: img.filter(ImageFilter.GaussianBlur(max(2, max(img.size) // 150)))  # noqa: E731
            else:
                edit = lambda img: img.filter(ImageFilter.SHARPEN)  # noqa: E731
            found.append((m.start(), name, edit))
    found.sort(key=lambda f: f[0])
    return [(name, edit) for _, name, edit in found]


def canny(img: Image.Image, low: int, high: int) -> Image.Image:
    import cv2
    import numpy as np
    from PIL import Image

    edges = cv2.Canny(np.asarray(img.convert("L")), low, high)
    return Image.fromarray(np.stack([edges] * 3, axis=-1))


@dataclass
class PythonModel:
    size_bytes: int
    canny_low: int
    canny_high: int

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        path = file_input(inputs, "image")
        img = open_rgb(path)
        if task == "canny-control":
            out = canny(img, self.canny_low, self.canny_high)
            return [FileOutput("image", png_bytes(out), "image/png", ".png", description="Canny edge map")]
        if task == "image-to-image":
            instruction = optional_text(inputs, "text")
            edits = parse_edits(instruction)
            if not edits:
                raise InputError(f"I can only make simple edits offline ({SUPPORTED_EDITS}); "
                                 f"I could not find one in {instruction!r}.")
            for _, edit in edits:
                img = edit(img)
            names = ", ".join(name.replace("_", " ") for name, _ in edits)
            return [FileOutput("image", png_bytes(img), "image/png", ".png", description=f"edited: {names}")]
        raise ModelError(f"The python backend cannot run {task}.")


class PythonBackend:
    """``python`` backend: no weights. Options: ``canny_low`` (100), ``canny_high`` (200)."""

    name = "python"
    tasks = frozenset({"canny-control", "image-to-image"})
    per_task = False

    def available(self) -> str | None:
        return missing("PIL", "cv2", "numpy")

    def load(self, card: ModelCard, device: Device) -> PythonModel:
        return PythonModel(0, int(card.options.get("canny_low", 100)), int(card.options.get("canny_high", 200)))
