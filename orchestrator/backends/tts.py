"""Text-to-speech with hibari: a 7.9 MB ONNX voice and its own G2P, inside the hibari-tts wheel.

Output is a 16-bit mono WAV at 24 kHz. Synthesis is seeded, so the same text always gives the
same bytes (tests and caches rely on that).
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from typing import Any

from ..catalog import ModelCard
from ..errors import InputError, ModelError
from ..types import FileOutput, Output
from ._common import missing, text_input
from .base import Device, Inputs

MAX_CHARS = 5000  # ~5 minutes of speech; longer texts are a mistake or an abuse


def wav_bytes(samples: Any, sample_rate: int) -> bytes:
    """float samples in [-1, 1] → 16-bit mono WAV bytes."""
    import numpy as np

    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


@dataclass
class HibariModel:
    tts: Any
    size_bytes: int
    seed: int
    speed: float

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        text = text_input(inputs)
        if len(text) > MAX_CHARS:
            raise InputError(f"That text is too long to read aloud ({len(text)} characters; the limit is {MAX_CHARS}).")
        try:
            samples = self.tts(text, speed=self.speed, seed=self.seed)
        except Exception as exc:
            raise ModelError(f"Speech synthesis failed: {exc}") from exc
        if len(samples) == 0:
            raise InputError("There is nothing pronounceable in that text.")
        rate = int(self.tts.sample_rate)
        return [FileOutput("audio", wav_bytes(samples, rate), "audio/wav", ".wav",
                           description=f"speech, {len(samples) / rate:.1f} s")]


class HibariBackend:
    """``hibari`` backend. Options: ``voice`` (default "heart", the one shipped in the wheel;
    other voices would be downloaded, which an offline host cannot do), ``speed``, ``seed``."""

    name = "hibari"
    tasks = frozenset({"text-to-speech"})
    per_task = False

    def available(self) -> str | None:
        return missing("hibari", "onnxruntime")

    def load(self, card: ModelCard, device: Device) -> HibariModel:
        from hibari import Hibari

        voice = str(card.options.get("voice", "heart"))
        tts = Hibari(voice=voice, threads=int(card.options.get("threads", 1)))
        return HibariModel(tts, card.size or 16_000_000, int(card.options.get("seed", 0)),
                           float(card.options.get("speed", 1.0)))
