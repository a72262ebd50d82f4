"""Audio decoding and encoding for model inputs and outputs (soundfile + scipy)."""

from __future__ import annotations

import io
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np

from ..types import FileOutput


def read_audio(path: str | Path, rate: int | None = None) -> tuple[np.ndarray, int]:
    """Decode ``path`` to mono float32 in [-1, 1]; resample to ``rate`` when given and different.

    Returns ``(waveform, sampling_rate)``. Raises whatever soundfile raises for unreadable files.
    """
    import soundfile as sf

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate and rate != sr:
        wave = resample(wave, sr, rate)
        sr = rate
    return np.ascontiguousarray(wave, dtype=np.float32), int(sr)


def resample(wave: np.ndarray, src: int, dst: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = gcd(src, dst)
    return np.asarray(resample_poly(wave, dst // g, src // g), dtype=np.float32)


def wav_bytes(wave: Any, rate: int) -> bytes:
    """16-bit PCM WAV bytes from a waveform of any shape that squeezes to 1-D (or (n, channels))."""
    import soundfile as sf

    arr = np.asarray(wave, dtype=np.float32).squeeze()
    if arr.ndim == 2 and arr.shape[0] < arr.shape[1]:  # (channels, n) -> (n, channels)
        arr = arr.T
    buf = io.BytesIO()
    sf.write(buf, np.clip(arr, -1.0, 1.0), int(rate), format="WAV", subtype="PCM_16")
    return buf.getvalue()


def wav_output(wave: Any, rate: int, description: str = "") -> FileOutput:
    return FileOutput(kind="audio", data=wav_bytes(wave, rate), mime="audio/wav", suffix=".wav", description=description)
