"""DiffusersBackend on tiny random pipelines (32x32, 2 steps), plus the control-map and video encoders."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from orchestrator.backends import _image
from orchestrator.backends.base import Device
from orchestrator.backends.diffusers_backend import ControlMapModel, DiffusersBackend, DiffusersModel, canny
from orchestrator.catalog import ModelCard
from orchestrator.errors import BackendUnavailable, InputError
from orchestrator.types import FileOutput

BACKEND = DiffusersBackend()
FAST = {"steps": 2, "height": 32, "width": 32, "seed": 0}
_loaded: dict[str, Any] = {}


def card(models: dict[str, Path], task: str, **options: Any) -> ModelCard:
    path = models[task] if task in models else models["text-to-image"]
    return ModelCard(id=f"tiny/{path.name}", task=task, backend="diffusers", path=str(path), options={**FAST, **options})


def load(models: dict[str, Path], task: str, **options: Any) -> Any:
    """One load per task for the module: a pipeline load costs about a second."""
    if task not in _loaded:
        if task == "canny-text-to-image":
            options.setdefault("controlnet", str(models["controlnet"]))
        _loaded[task] = BACKEND.load(card(models, task, **options), Device())
    return _loaded[task]


def decode_png(out: Any) -> Image.Image:
    assert isinstance(out, FileOutput)
    assert (out.kind, out.mime, out.suffix) == ("image", "image/png", ".png")
    img = Image.open(io.BytesIO(out.data))
    img.load()
    return img


def test_available() -> None:
    assert BACKEND.available() is None


def test_text_to_image_is_seeded(tiny_models: dict[str, Path]) -> None:
    model = load(tiny_models, "text-to-image")
    assert isinstance(model, DiffusersModel) and model.size_bytes > 0
    (first,) = model.run("text-to-image", {"text": "a red car"})
    (again,) = model.run("text-to-image", {"text": "a red car"})
    assert isinstance(first, FileOutput)
    img = decode_png(first)
    assert img.size == (32, 32) and img.mode == "RGB"
    assert isinstance(again, FileOutput) and first.data == again.data  # options["seed"] -> the same image every time


def test_image_to_image(tiny_models: dict[str, Path], media_files: dict[str, Path]) -> None:
    model = load(tiny_models, "image-to-image", strength=0.5)
    (out,) = model.run("image-to-image", {"text": "make it blue", "image": media_files["image"]})
    assert decode_png(out).size == (32, 32)
    with pytest.raises(InputError, match="image"):
        model.run("image-to-image", {"text": "no image"})


def test_text_to_video(tiny_models: dict[str, Path]) -> None:
    model = load(tiny_models, "text-to-video", num_frames=3)
    (out,) = model.run("text-to-video", {"text": "a car driving"})
    assert isinstance(out, FileOutput) and out.kind == "video"
    assert (out.mime, out.suffix) in {("video/mp4", ".mp4"), ("image/gif", ".gif")}
    if out.mime == "video/mp4":
        av = pytest.importorskip("av")
        with av.open(io.BytesIO(out.data)) as container:
            frames = list(container.decode(video=0))
        assert len(frames) == 3 and (frames[0].width, frames[0].height) == (32, 32)


def test_controlnet_text_to_image(tiny_models: dict[str, Path], media_files: dict[str, Path]) -> None:
    model = load(tiny_models, "canny-text-to-image")
    (out,) = model.run("canny-text-to-image", {"text": "a house", "image": media_files["image"]})
    assert decode_png(out).size == (32, 32)


def test_controlnet_needs_its_weights(tiny_models: dict[str, Path]) -> None:
    with pytest.raises(BackendUnavailable, match="controlnet"):
        BACKEND.load(card(tiny_models, "canny-text-to-image"), Device())


def test_missing_prompt(tiny_models: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="prompt"):
        load(tiny_models, "text-to-image").run("text-to-image", {"text": "  "})


def test_tasks_it_does_not_run(tiny_models: dict[str, Path]) -> None:
    with pytest.raises(BackendUnavailable, match="does not run text-classification"):
        BACKEND.load(card(tiny_models, "text-classification"), Device())
    with pytest.raises(BackendUnavailable, match="controlnet_aux"):
        BACKEND.load(ModelCard(id="hed", task="hed-control", backend="diffusers"), Device())


# --- control maps ---------------------------------------------------------------------------------


def _edges_are_binary(img: Image.Image) -> None:
    values = set(np.unique(np.asarray(img.convert("L"))).tolist())
    assert values <= {0, 255} and 255 in values


def test_canny_control_map(media_files: dict[str, Path]) -> None:
    model = BACKEND.load(ModelCard(id="canny", task="canny-control", backend="diffusers"), Device())
    assert isinstance(model, ControlMapModel) and model.size_bytes == 0
    (out,) = model.run("canny-control", {"image": media_files["image"]})
    img = decode_png(out)
    assert img.size == (48, 40)
    _edges_are_binary(img)


def test_canny_without_opencv_uses_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` raise ImportError
    img = Image.new("RGB", (40, 40), (0, 0, 0))
    img.paste((255, 255, 255), (10, 10, 30, 30))
    edges = canny(img)
    assert edges.size == (40, 40)
    _edges_are_binary(edges)


# --- encoders -------------------------------------------------------------------------------------


def test_video_falls_back_to_gif(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_mp4(*_: Any) -> bytes:
        raise ImportError("no av")

    monkeypatch.setattr(_image, "_mp4_bytes", no_mp4)
    frames = [np.full((31, 33, 3), v, dtype=np.float32) for v in (0.0, 0.5, 1.0)]
    out = _image.video_output(frames, fps=4)
    assert (out.kind, out.mime, out.suffix) == ("video", "image/gif", ".gif")
    gif: Any = Image.open(io.BytesIO(out.data))
    assert gif.n_frames == 3 and gif.size == (33, 31)


def test_mp4_pads_odd_sizes() -> None:
    pytest.importorskip("av")
    out = _image.video_output([Image.new("RGB", (33, 31), (i * 60, 0, 0)) for i in range(4)])
    assert out.mime == "video/mp4" and out.data[4:8] == b"ftyp"


def test_video_needs_frames() -> None:
    with pytest.raises(ValueError):
        _image.video_output([])


class _FakePipe:
    components: dict[str, Any] = {}

    def to(self, device: str) -> _FakePipe:
        return self


def test_card_precision_variant_and_revision_reach_from_pretrained(monkeypatch: pytest.MonkeyPatch) -> None:
    import diffusers
    import torch

    seen: dict[str, Any] = {}
    vae_calls: list[dict[str, Any]] = []
    monkeypatch.setattr(DiffusersBackend, "_from_pretrained",
                        staticmethod(lambda mod, c, kwargs: seen.update(kwargs) or _FakePipe()))
    monkeypatch.setattr(diffusers.AutoModel, "from_pretrained",
                        classmethod(lambda cls, source, **kw: vae_calls.append({"source": source, **kw}) or "vae"))
    wan = ModelCard(id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers", task="text-to-video", backend="diffusers", dtype="bfloat16",
                    revision="0123abcd", options={"vae_dtype": "float32"})
    BACKEND.load(wan, Device("cpu", half=True))
    assert seen["torch_dtype"] is torch.bfloat16 and seen["revision"] == "0123abcd" and seen["vae"] == "vae"
    assert vae_calls == [{"source": wan.id, "subfolder": "vae", "torch_dtype": torch.float32, "revision": "0123abcd"}]

    seen.clear()
    sdxl = ModelCard(id="stabilityai/sdxl-turbo", task="text-to-image", backend="diffusers", variant="fp16")
    BACKEND.load(sdxl, Device("cpu", half=True))
    assert seen["torch_dtype"] is torch.float16 and seen["variant"] == "fp16" and "revision" not in seen

    seen.clear()
    BACKEND.load(sdxl, Device())  # full precision on a CPU: no dtype, the variant still picks the files
    assert "torch_dtype" not in seen and seen["variant"] == "fp16" and "vae" not in seen
