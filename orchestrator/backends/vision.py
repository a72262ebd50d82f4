"""Object (face) detection with weights that ship in wheels: NudeNet's YOLOv8n ONNX and
OpenCV's Haar cascades.

Both return the input image with boxes drawn on it (PNG) and a sentence listing what was
found with pixel boxes ``(x, y, w, h)``; an image with nothing found gives the unmarked image
and a sentence saying so, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..catalog import ModelCard
from ..errors import ModelError
from ..types import FileOutput, Output, TextOutput
from ._common import dir_size, file_input, missing, open_rgb, package_dir, png_bytes
from .base import Device, Inputs

if TYPE_CHECKING:
    from PIL import Image

Box = tuple[int, int, int, int]  # x, y, width, height in pixels


@dataclass(frozen=True)
class Detection:
    label: str
    box: Box
    score: float | None = None

    def describe(self, with_label: bool = True) -> str:
        x, y, w, h = self.box
        where = f"({x}, {y}, {w}, {h})"
        score = f" {self.score:.2f}" if self.score is not None else ""
        return f"{self.label}{score} at {where}" if with_label else f"{where}{score}"


def annotate(img: Image.Image, detections: list[Detection]) -> Image.Image:
    """A copy of ``img`` with each detection boxed and labelled."""
    from PIL import ImageDraw

    out = img.copy()
    draw = ImageDraw.Draw(out)
    width = max(2, round(max(img.size) / 250))
    for det in detections:
        x, y, w, h = det.box
        draw.rectangle((x, y, x + w, y + h), outline=(255, 40, 40), width=width)
        draw.text((x + width + 1, max(0, y - 12)), det.label, fill=(255, 40, 40))
    return out


def summarize(detections: list[Detection], noun: str) -> str:
    """"No faces found." / "1 face at (x, y, w, h)" / "2 faces: face (female) 0.72 at (...); ..."."""
    if not detections:
        return f"No {noun}s found."
    head = f"1 {noun}" if len(detections) == 1 else f"{len(detections)} {noun}s"
    if all(d.label == noun for d in detections):
        return f"{head} at " + ", ".join(d.describe(with_label=False) for d in detections) + "."
    return f"{head}: " + "; ".join(d.describe() for d in detections) + "."


# Without a general object detector here, "what objects are in this photo?" reaches a face detector:
# "No faces found." alone would read as "nothing is in it".
FACES_ONLY = " This detector looks for human faces only; no general object detector is installed here."


def detection_outputs(img: Image.Image, detections: list[Detection], noun: str) -> list[Output]:
    text = summarize(detections, noun) + (FACES_ONLY if noun == "face" and not detections else "")
    return [TextOutput(text), FileOutput("image", png_bytes(annotate(img, detections)), "image/png", ".png",
                                         description=text)]


def humanize(label: str) -> str:
    """NudeNet's class names → words: FACE_FEMALE → "face (female)", FEET_EXPOSED → "feet (exposed)"."""
    parts = label.lower().split("_")
    return parts[0] if len(parts) == 1 else f"{' '.join(parts[:-1])} ({parts[-1]})"


def tiles(width: int, height: int, overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """The whole image, then square tiles (side = the short side) overlapping by ``overlap`` along
    the long side when the image is clearly not square: (x0, y0, x1, y1) each."""
    boxes = [(0, 0, width, height)]
    side, long = min(width, height), max(width, height)
    if long < 1.4 * side:
        return boxes
    step = max(1, int(side * (1 - overlap)))
    starts = list(range(0, long - side + 1, step))
    if starts[-1] != long - side:
        starts.append(long - side)
    for s in starts:
        boxes.append((s, 0, s + side, side) if width >= height else (0, s, side, s + side))
    return boxes


def _iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def suppress_overlaps(found: list[Detection], iou: float = 0.4) -> list[Detection]:
    """Keep the best-scored of detections that overlap (the same face seen in two tiles)."""
    kept: list[Detection] = []
    for det in sorted(found, key=lambda d: -(d.score or 0.0)):
        if all(_iou(det.box, k.box) < iou for k in kept):
            kept.append(det)
    return kept


@dataclass
class NudeNetModel:
    detector: Any
    size_bytes: int
    threshold: float
    classes: frozenset[str] | None  # None: report every class
    noun: str  # what the summary counts: "face" when only face classes are reported

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        import numpy as np

        img = open_rgb(file_input(inputs, "image"))
        bgr = np.ascontiguousarray(np.asarray(img)[:, :, ::-1])  # NudeNet expects OpenCV's BGR order
        found: list[Detection] = []
        # NudeNet squeezes the whole image into 320 px: in a wide group photo each face shrinks below
        # what it can see. Square tiles along the long side (plus the whole image, for faces larger
        # than the overlap) keep faces at the scale it was trained on.
        for x0, y0, x1, y1 in tiles(img.width, img.height):
            try:
                raw = self.detector.detect(np.ascontiguousarray(bgr[y0:y1, x0:x1]))
            except Exception as exc:
                raise ModelError(f"Detection failed: {exc}") from exc
            found += [
                Detection(humanize(d["class"]), (int(d["box"][0]) + x0, int(d["box"][1]) + y0, int(d["box"][2]),
                                                 int(d["box"][3])), float(d["score"]))
                for d in raw
                if float(d["score"]) >= self.threshold and (self.classes is None or d["class"] in self.classes)
            ]
        found = suppress_overlaps(found)
        found.sort(key=lambda d: (d.box[0], d.box[1]))
        return detection_outputs(img, found, self.noun)


class NudeNetBackend:
    """``nudenet`` backend (YOLOv8n, 320 px, 18 body-part classes including FACE_FEMALE and
    FACE_MALE). Options: ``threshold`` (default 0.3), ``classes`` (list of NudeNet class names to
    report; the catalog limits it to faces, so the bot does not narrate body parts)."""

    name = "nudenet"
    tasks = frozenset({"object-detection"})
    per_task = False

    def available(self) -> str | None:
        return missing("nudenet", "onnxruntime", "cv2")

    def load(self, card: ModelCard, device: Device) -> NudeNetModel:
        from nudenet import NudeDetector

        classes = frozenset(map(str, card.options.get("classes") or ())) or None
        noun = "face" if classes and all(c.startswith("FACE_") for c in classes) else "object"
        onnx = package_dir("nudenet") / "320n.onnx"
        return NudeNetModel(NudeDetector(), dir_size(onnx) if onnx.exists() else card.size,
                            float(card.options.get("threshold", 0.3)), classes, noun)


@dataclass
class CascadeModel:
    cascade: Any
    size_bytes: int
    label: str
    scale_factor: float
    min_neighbors: int

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        import cv2
        import numpy as np

        img = open_rgb(file_input(inputs, "image"))
        gray = cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2GRAY)
        # Faces smaller than ~1/12 of the short side are mostly false positives in textures.
        side = max(24, min(gray.shape) // 12)
        boxes = self.cascade.detectMultiScale(gray, self.scale_factor, self.min_neighbors, minSize=(side, side))
        found = [Detection(self.label, (int(x), int(y), int(w), int(h))) for x, y, w, h in boxes]
        found.sort(key=lambda d: (d.box[0], d.box[1]))
        return detection_outputs(img, found, self.label)


class CascadeBackend:
    """``opencv-cascade`` backend: a Haar cascade from ``cv2.data.haarcascades``. Options:
    ``cascade`` (file name, default the frontal face cascade), ``label`` (default "face"),
    ``scale_factor`` (1.1), ``min_neighbors`` (5)."""

    name = "opencv-cascade"
    tasks = frozenset({"object-detection"})
    per_task = False

    def available(self) -> str | None:
        return missing("cv2")

    def load(self, card: ModelCard, device: Device) -> CascadeModel:
        import cv2

        name = str(card.options.get("cascade", "haarcascade_frontalface_default.xml"))
        cascades = Path(cv2.data.haarcascades)  # type: ignore[attr-defined]
        path = Path(card.path) if card.path else cascades / name
        if not path.is_file():
            # opencv-python-headless 5.x dropped the bundled cascades.
            raise ModelError(f"The cascade {path.name} is not installed: pip install 'opencv-python-headless<5'.")
        cascade = cv2.CascadeClassifier(str(path))
        if cascade.empty():
            raise ModelError(f"OpenCV could not load the cascade {path.name}.")
        return CascadeModel(cascade, path.stat().st_size, str(card.options.get("label", "face")),
                            float(card.options.get("scale_factor", 1.1)), int(card.options.get("min_neighbors", 5)))
