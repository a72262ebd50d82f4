"""A fake model backend for executor scenarios: the model edge, with controllable timing and failure.

Card options: ``sleep`` (seconds per run), ``fail`` (raise on every run), ``load_fail`` (raise at load).
Outputs follow the task registry's output kind: text, a real PNG, or a real WAV.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
import wave
from dataclasses import dataclass, field

from PIL import Image

from orchestrator import tasks as registry
from orchestrator.backends.base import Device, Inputs
from orchestrator.catalog import ModelCard
from orchestrator.types import FileOutput, Output, TextOutput


def png_bytes(color: str = "red", size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format="PNG")
    return buf.getvalue()


def wav_bytes(seconds: float = 0.1, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(rate * seconds))
    return buf.getvalue()


def content_id(data: bytes) -> str:
    """How fake models name a file they were given: by its content (a runtime hands models
    temporary copies, so a path's name says nothing about which file it was; its suffix, which
    tells a decoder the container, is kept)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()[:12]


@dataclass
class FakeModel:
    card: ModelCard
    size_bytes: int = 1

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        opts = self.card.options
        time.sleep(float(opts.get("sleep", 0)))
        if opts.get("fail"):
            raise RuntimeError(f"{self.card.id} exploded")
        kind = registry.TASKS[task].output
        seen = ", ".join(f"{k}={v if isinstance(v, str) else content_id(v.read_bytes()) + v.suffix}"
                         for k, v in sorted(inputs.items()))
        if kind == "text":
            return [TextOutput(f"{task} by {self.card.id} from {seen}")]
        if kind == "image":
            return [FileOutput("image", png_bytes(), "image/png", ".png")]
        return [FileOutput("audio", wav_bytes(), "audio/wav", ".wav")]


@dataclass
class FakeBackend:
    name: str = "fake"
    loads: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def available(self) -> str | None:
        return None

    def load(self, card: ModelCard, device: Device) -> FakeModel:
        with self._lock:
            self.loads.append(card.id)
        if card.options.get("load_fail"):
            raise OSError(f"{card.id} has no weights here")
        return FakeModel(card, size_bytes=max(card.size, 1))
