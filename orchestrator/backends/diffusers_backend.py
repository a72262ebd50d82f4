"""The diffusers backend: image and video generation, plus ControlNet control maps.

Tasks:

- ``text-to-image``: ``DiffusionPipeline.from_pretrained(card.source)``;
- ``image-to-image``: ``AutoPipelineForImage2Image`` (input image + text prompt);
- ``text-to-video``: ``DiffusionPipeline``; frames become an MP4 (PyAV) or an animated GIF;
- ``<x>-text-to-image``: ``StableDiffusionControlNetPipeline`` with the ControlNet weights named by
  ``options["controlnet"]`` (a hub id or a directory); the input image is the control map;
- ``<x>-control``: an image becomes a control map (``ControlMapModel``); only ``canny`` needs no
  weights (OpenCV when installed, else a Pillow edge filter).

Card options: ``steps``, ``height``, ``width``, ``guidance_scale``, ``negative_prompt``, ``seed``
(a seeded generator makes runs reproducible), ``strength`` (image-to-image), ``num_frames`` and
``fps`` (video), ``safety_checker: false`` (load without the safety checker), ``vae_dtype`` (load the
VAE in another precision, e.g. Wan's fp32 VAE), ``load`` (extra ``from_pretrained`` kwargs). On a
half-precision device weights load in the card's ``dtype`` (fp16 when it names none); the card's
``variant`` and ``revision`` pick the weight files and the hub commit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..catalog import ModelCard
from ..errors import BackendUnavailable, HgbotError, InputError, ModelError
from ..tasks import CONTROL_KINDS
from ..types import Output
from . import _image
from ._common import missing
from .base import Device, Inputs
from .transformers_backend import LOAD_LOCK, _transformers, parameter_bytes, torch_dtype

_import_lock = threading.Lock()
_modules: dict[str, ModuleType] = {}

GENERATION_TASKS = frozenset({"text-to-image", "image-to-image", "text-to-video"})
CONTROL_TEXT_TO_IMAGE = frozenset(f"{k}-text-to-image" for k in CONTROL_KINDS)
CONTROL_MAPS = frozenset(f"{k}-control" for k in CONTROL_KINDS)
# Annotators that need detector weights (controlnet_aux downloads them from the hub).
_ANNOTATOR_ONLY = frozenset(CONTROL_KINDS) - {"canny"}


def _diffusers() -> ModuleType:
    """Import diffusers once, under a lock (after transformers: see ``_transformers``)."""
    _transformers()
    with _import_lock:
        if "diffusers" not in _modules:
            import diffusers

            _modules["diffusers"] = diffusers
        return _modules["diffusers"]


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def pipeline_bytes(pipe: Any) -> int:
    """Bytes of every torch module among a diffusers pipeline's components."""
    components = getattr(pipe, "components", {}) or {}
    return sum(parameter_bytes(c) for c in components.values() if c is not None)


@dataclass
class DiffusersModel:
    """A loaded diffusers pipeline. ``run`` is blocking and serialised per model: schedulers keep
    per-call state (``set_timesteps``), so two concurrent calls on one pipeline would corrupt it."""

    card: ModelCard
    pipe: Any
    device: Device
    size_bytes: int

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        with self._lock:
            try:
                return self._run(task, inputs)
            except HgbotError:
                raise
            except Exception as exc:
                raise ModelError(f"{self.card.id} failed on {task}: {_short(exc)}") from exc

    def call_kwargs(self, task: str, inputs: Inputs) -> dict[str, Any]:
        """Keyword arguments for the pipeline call, from the inputs and the card options."""
        import torch

        opts = self.card.options
        prompt = str(inputs.get("text", "")).strip()
        if not prompt:
            raise InputError(f"{task} needs a text prompt.")
        kwargs: dict[str, Any] = {"prompt": prompt}
        for opt, arg in (("steps", "num_inference_steps"), ("height", "height"), ("width", "width"),
                         ("guidance_scale", "guidance_scale"), ("negative_prompt", "negative_prompt"),
                         ("strength", "strength"), ("num_frames", "num_frames")):
            if opt in opts:
                kwargs[arg] = opts[opt]
        if task == "image-to-image" or task in CONTROL_TEXT_TO_IMAGE:
            image = inputs.get("image")
            if image is None:
                raise InputError(f"{task} needs an image.")
            kwargs["image"] = _image.open_image(Path(image))
            if task == "image-to-image":
                # img2img takes its size from the input image, not height/width
                kwargs.pop("height", None)
                kwargs.pop("width", None)
                size = (int(opts["width"]), int(opts["height"])) if "width" in opts and "height" in opts else None
                if size:
                    kwargs["image"] = kwargs["image"].resize(size)
        if task != "text-to-video":
            kwargs.pop("num_frames", None)
        if "seed" in opts:
            # a CPU generator gives the same noise on every device
            kwargs["generator"] = torch.Generator("cpu").manual_seed(int(opts["seed"]))
        return kwargs

    def _run(self, task: str, inputs: Inputs) -> list[Output]:
        import torch

        kwargs = self.call_kwargs(task, inputs)
        with torch.inference_mode():
            if task == "text-to-video":
                result = self.pipe(**kwargs, output_type="np")
                frames = result.frames[0]
                fps = int(self.card.options.get("fps", 8))
                return [_image.video_output(list(frames), fps=fps, description=kwargs["prompt"])]
            result = self.pipe(**kwargs)
        return [_image.png_output(img, description=kwargs["prompt"]) for img in result.images]


@dataclass
class ControlMapModel:
    """Turns an image into a ControlNet control map. Holds no weights (``size_bytes`` 0)."""

    kind: str
    size_bytes: int = 0
    low_threshold: int = 100
    high_threshold: int = 200

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        image = inputs.get("image")
        if image is None:
            raise InputError(f"{task} needs an image.")
        if self.kind != "canny":
            raise BackendUnavailable(_annotator_message(self.kind))
        edges = canny(_image.open_image(Path(image)), self.low_threshold, self.high_threshold)
        return [_image.png_output(edges, description="canny edges")]


def _annotator_message(kind: str) -> str:
    return (f"{kind} control maps are made by controlnet_aux's detectors (a catalog card with "
            "backend 'controlnet-aux'), not by diffusers; diffusers makes only canny edges.")


def canny(img: Any, low: int = 100, high: int = 200) -> Any:
    """Canny edges as an RGB image (white edges on black): OpenCV when installed, else Pillow."""
    import numpy as np
    from PIL import Image, ImageFilter, ImageOps

    try:
        import cv2
    except ImportError:
        cv2 = None  # type: ignore[assignment]
    if cv2 is not None:
        edges = cv2.Canny(np.asarray(img.convert("L")), low, high)
        return Image.fromarray(edges).convert("RGB")
    # Pillow has no Canny: an edge filter thresholded at the low threshold is close enough for ControlNet
    found = ImageOps.grayscale(img).filter(ImageFilter.FIND_EDGES)
    return found.point(lambda v: 255 if v >= low // 2 else 0).convert("RGB")


class DiffusersBackend:
    """Runs catalog cards with ``backend: diffusers``."""

    name = "diffusers"
    tasks: frozenset[str] = frozenset()  # decided per model: the pipeline it offers
    per_task = True

    def available(self) -> str | None:
        return missing("torch", "transformers", "diffusers", extra="models")

    def load(self, card: ModelCard, device: Device) -> DiffusersModel | ControlMapModel:
        """Load the pipeline for ``card.task`` (blocking). Raises BackendUnavailable for tasks this
        backend does not run; loading failures propagate (the cache wraps them in ModelError)."""
        task = card.task
        if task in CONTROL_MAPS:
            kind = task.removesuffix("-control")
            if kind in _ANNOTATOR_ONLY:
                raise BackendUnavailable(_annotator_message(kind))
            return ControlMapModel(kind=kind)
        if task not in GENERATION_TASKS and task not in CONTROL_TEXT_TO_IMAGE:
            raise BackendUnavailable(f"The diffusers backend does not run {task}.")

        diffusers = _diffusers()
        import torch

        kwargs: dict[str, Any] = {}
        dtype = torch_dtype(card, device)
        if dtype is not None:
            kwargs["torch_dtype"] = dtype
        if card.variant:
            kwargs["variant"] = card.variant  # e.g. fp16: download the half-size weight files only
        if card.revision and not card.path:
            kwargs["revision"] = card.revision
        if card.options.get("safety_checker", True) is False:
            kwargs["safety_checker"] = None
            kwargs["requires_safety_checker"] = False
        kwargs.update(card.options.get("load", {}))
        kwargs.pop("trust_remote_code", None)  # never run code from a model repository

        with LOAD_LOCK:  # see LOAD_LOCK: concurrent from_pretrained calls corrupt each other
            vae_dtype = card.options.get("vae_dtype")
            if vae_dtype and dtype is not None:
                # Wan decodes in fp32 (its VAE is documented in fp32 beside a bf16 transformer)
                kwargs["vae"] = diffusers.AutoModel.from_pretrained(
                    card.source, subfolder="vae", torch_dtype=getattr(torch, str(vae_dtype)),
                    **{k: v for k, v in kwargs.items() if k == "revision"})
            pipe = self._from_pretrained(diffusers, card, kwargs)
            pipe = pipe.to(device.name)
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
        return DiffusersModel(card=card, pipe=pipe, device=device, size_bytes=pipeline_bytes(pipe))

    @staticmethod
    def _from_pretrained(diffusers: ModuleType, card: ModelCard, kwargs: dict[str, Any]) -> Any:
        task = card.task
        if task == "image-to-image":
            return diffusers.AutoPipelineForImage2Image.from_pretrained(card.source, **kwargs)
        if task in CONTROL_TEXT_TO_IMAGE:
            source = card.options.get("controlnet")
            if not source:
                raise BackendUnavailable(f"{card.id} has no 'controlnet' option: {task} needs ControlNet weights.")
            dtype = {"torch_dtype": kwargs["torch_dtype"]} if "torch_dtype" in kwargs else {}
            controlnet = diffusers.ControlNetModel.from_pretrained(str(source), **dtype)
            return diffusers.StableDiffusionControlNetPipeline.from_pretrained(card.source, controlnet=controlnet, **kwargs)
        return diffusers.DiffusionPipeline.from_pretrained(card.source, **kwargs)
