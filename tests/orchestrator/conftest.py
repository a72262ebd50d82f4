"""Session fixtures for backend tests: tiny random-weight models built once, and input files.

Other test packages can reuse the builders directly: ``from tests.tiny_models import build_all,
write_tiny_catalog``.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from tests.tiny_models import build_all, write_tiny_catalog  # noqa: E402


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """hgbot task -> directory of a tiny model that runs it (plus ``"controlnet"``).

    Also pins torch to one thread: tiny models are all per-op overhead, and on a busy 2-core
    runner two intra-op threads made a 2-step video 10x slower (15 s against 1.5 s).
    """
    import torch

    torch.set_num_threads(1)
    return build_all(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def tiny_catalog(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog JSONL with one card per tiny model (see ``write_tiny_catalog``)."""
    return tiny_catalog_file(tmp_path_factory.mktemp("catalog"), tiny_models)


def tiny_catalog_file(tmp: Path, models: dict[str, Path]) -> Path:
    return write_tiny_catalog(models, Path(tmp) / "tiny-catalog.jsonl")


@pytest.fixture(scope="session")
def media_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Input files: ``image`` (48x40 PNG with shapes), ``audio`` (1 s, 22.05 kHz stereo WAV: the
    backend must mix down and resample), ``audio16k`` (0.5 s mono, 16 kHz)."""
    import soundfile as sf
    from PIL import ImageDraw

    root = tmp_path_factory.mktemp("media")
    img = Image.new("RGB", (48, 40), (20, 60, 200))
    ImageDraw.Draw(img).rectangle((10, 8, 30, 30), fill=(240, 240, 240))
    img.save(root / "image.png")
    t = np.arange(22050) / 22050
    tone = 0.2 * np.sin(2 * np.pi * 440 * t)
    sf.write(root / "audio.wav", np.stack([tone, tone * 0.5], axis=1).astype(np.float32), 22050)
    sf.write(root / "audio16k.wav", (0.2 * np.sin(2 * np.pi * 300 * np.arange(8000) / 16000)).astype(np.float32), 16000)
    return {"image": root / "image.png", "audio": root / "audio.wav", "audio16k": root / "audio16k.wav"}
