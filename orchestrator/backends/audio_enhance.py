"""The ``noisereduce`` backend: audio-to-audio speech enhancement by spectral gating.

No weights: noisereduce estimates a noise threshold per frequency band from the recording itself
and gates the short-time spectrum below it (non-stationary mode follows noise that changes over
time). It is a signal-processing method, not a neural model, so it runs on any CPU in a fraction
of real time; it removes hiss, hum and steady background noise, not overlapping speakers.

Options: ``stationary`` (false: track changing noise), ``prop_decrease`` (1.0: how much of the
noise to remove; lower keeps more of the original), ``freq_mask_smooth_hz`` (None: no smoothing of
the gate across frequency; the library's 500 Hz default smears noise-only bins over the harmonics of
a voice and gates much of the voice away with the noise).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog import ModelCard
from ..errors import ModelError
from ..types import Output
from . import _audio
from ._common import file_input, missing
from .base import Device, Inputs


@dataclass
class NoiseReducer:
    stationary: bool
    prop_decrease: float
    freq_mask_smooth_hz: float | None = None
    size_bytes: int = 0

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        if task != "audio-to-audio":
            raise ModelError(f"The noisereduce backend cannot run {task}.")
        import noisereduce

        wave, rate = _audio.read_audio(file_input(inputs, "audio"))
        # n_jobs=1: the executor already runs steps in parallel threads
        cleaned = noisereduce.reduce_noise(y=wave, sr=rate, stationary=self.stationary,
                                           prop_decrease=self.prop_decrease,
                                           freq_mask_smooth_hz=self.freq_mask_smooth_hz, n_jobs=1)
        return [_audio.wav_output(cleaned, rate, description="enhanced speech (noise reduced)")]


class NoiseReduceBackend:
    name = "noisereduce"
    tasks = frozenset({"audio-to-audio"})
    per_task = False

    def available(self) -> str | None:
        return missing("noisereduce", "scipy", "soundfile")

    def load(self, card: ModelCard, device: Device) -> NoiseReducer:
        smooth = card.options.get("freq_mask_smooth_hz")
        return NoiseReducer(stationary=bool(card.options.get("stationary", False)),
                            prop_decrease=float(card.options.get("prop_decrease", 1.0)),
                            freq_mask_smooth_hz=float(smooth) if smooth is not None else None)
