"""The ``controlnet-aux`` backend: the hed, scribble, mlsd and openpose control maps.

These are the preprocessors ControlNet v1.1 was trained with (``lllyasviel/Annotators``): HED soft
edges (``softedge_hed``), HED scribbles (``scribble_hed``: HED, thinned and thresholded), M-LSD
straight lines and the OpenPose body skeleton. Each card names its weight file in
``options["file"]``; it is read from ``card.path`` (a directory) or downloaded alone from the hub
repository (at the card's ``revision``), never the whole repository.

controlnet_aux's package ``__init__`` imports every one of its twenty detectors, several of which
need torchvision and timm (which have no wheels matching our torch); so ``_aux`` imports only the
detector module it needs, under a bare package entry (and OpenPose without its face detector, the
one part of it that imports torchvision). Options: ``resolution`` (detect and output
size, default 512).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import ModelCard
from ..errors import BackendUnavailable, InputError
from ..types import Output
from . import _image
from .base import Device, Inputs

HED_FILE, MLSD_FILE, BODY_FILE = "ControlNetHED.pth", "mlsd_large_512_fp32.pth", "body_pose_model.pth"
KINDS = {"hed": HED_FILE, "scribble": HED_FILE, "mlsd": MLSD_FILE, "openpose": BODY_FILE}
_lock = threading.Lock()


def _aux(module: str) -> Any:
    """``controlnet_aux.<module>`` without running the package ``__init__`` (see the module docstring)."""
    with _lock:
        if "controlnet_aux" not in sys.modules:
            spec = importlib.util.find_spec("controlnet_aux")
            if spec is None or not spec.submodule_search_locations:
                raise BackendUnavailable(_INSTALL)
            package = types.ModuleType("controlnet_aux")
            package.__path__ = list(spec.submodule_search_locations)
            package.__spec__ = spec  # find_spec() of a module without a spec raises
            sys.modules["controlnet_aux"] = package
        if module.startswith("open_pose"):
            _without_face_detector()
        return importlib.import_module(f"controlnet_aux.{module}")


class _NoFaceDetector:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise BackendUnavailable("OpenPose face detection needs torchvision; hgbot detects bodies only.")


def _without_face_detector() -> None:
    """Let ``controlnet_aux.open_pose`` import without torchvision (caller holds ``_lock``).

    Its ``__init__`` imports the face detector, whose module imports torchvision at the top for two
    tensor conversions. Body-only detection never builds a face detector, and torchvision cannot load
    here: PyPI's torchvision 0.28 (the release paired with torch 2.13) is a CUDA build whose ops need
    ``libtorch_cuda.so``, so against the CPU torch its import fails ("operator torchvision::nms does
    not exist"). When torchvision does not import, a placeholder stands in for the face module."""
    name = "controlnet_aux.open_pose.face"
    if name in sys.modules:
        return
    try:
        import torchvision  # noqa: F401
    except Exception:  # missing, or present but built for another torch (the CUDA wheel on CPU torch)
        placeholder = types.ModuleType(name)
        placeholder.Face = _NoFaceDetector  # type: ignore[attr-defined]
        sys.modules[name] = placeholder


_INSTALL = ("controlnet_aux is not installed: pip install --no-deps 'controlnet-aux>=0.0.10' 'einops>=0.8' "
            "(--no-deps: its torchvision/timm requirements would replace torch).")


def weight_file(card: ModelCard) -> Path:
    """The card's weight file: under ``card.path``, or downloaded alone from the hub repository."""
    name = str(card.options.get("file") or KINDS.get(card.task.removesuffix("-control"), ""))
    if not name:
        raise BackendUnavailable(f"{card.id} names no weight file for {card.task}.")
    if card.path:
        return Path(card.path) / name
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(card.id, name, revision=card.revision or None))


@dataclass
class AnnotatorModel:
    """A loaded detector. ``run`` is serialised: the detectors keep no state, but torch modules in
    eval mode on one device are cheapest used one call at a time."""

    kind: str
    detector: Any
    resolution: int
    size_bytes: int

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        image = inputs.get("image")
        if image is None:
            raise InputError(f"{task} needs an image.")
        img = _image.open_image(Path(image))
        extra = {"scribble": True} if self.kind == "scribble" else {}
        with self._lock:
            control = self.detector(img, detect_resolution=self.resolution, image_resolution=self.resolution,
                                    output_type="pil", **extra)
        return [_image.png_output(control.convert("RGB"), description=f"{self.kind} control map")]


class AnnotatorBackend:
    """Runs ``{hed,scribble,mlsd,openpose}-control`` cards with ``backend: controlnet-aux``."""

    name = "controlnet-aux"
    tasks = frozenset({"hed-control", "mlsd-control", "openpose-control", "scribble-control"})
    per_task = False

    def available(self) -> str | None:
        for module in ("torch", "cv2", "einops", "controlnet_aux"):
            if importlib.util.find_spec(module) is None:
                return _INSTALL if module == "controlnet_aux" else f"{module} is not installed (needed by controlnet_aux)."
        return None

    def load(self, card: ModelCard, device: Device) -> AnnotatorModel:
        from .transformers_backend import parameter_bytes

        kind = card.task.removesuffix("-control")
        if kind not in KINDS:
            raise BackendUnavailable(f"The controlnet-aux backend does not make {card.task} maps.")
        path = weight_file(card)
        if kind in ("hed", "scribble"):
            detector = _aux("hed").HEDdetector.from_pretrained(str(path.parent), filename=path.name)
            network = detector.netNetwork
        elif kind == "mlsd":
            detector = _aux("mlsd").MLSDdetector.from_pretrained(str(path.parent), filename=path.name)
            network = detector.model
        else:
            # body only: hands and faces need two more checkpoints (300 MB) the openpose ControlNet does not use
            body = _aux("open_pose.body").Body(str(path)).to(device.name)
            detector = _aux("open_pose").OpenposeDetector(body)
            network = body.model
        if kind != "openpose":  # OpenposeDetector.to also moves the hand and face detectors it lacks here
            detector.to(device.name)
        return AnnotatorModel(kind, detector, int(card.options.get("resolution", 512)), parameter_bytes(network))


def save_stand_in(kind: str, d: Path) -> Path:
    """Random weights of the real detector network under its real file name (for the tiny twins).

    The networks are fixed-size (HED 15 M parameters, M-LSD 1.5 M), so the stand-in is saved in fp16
    to halve the file; ``load_state_dict`` copies it into the fp32 network as the real file would be."""
    import torch

    d.mkdir(parents=True, exist_ok=True)
    if kind in ("hed", "scribble"):
        network: Any = _aux("hed").ControlNetHED_Apache2()
    elif kind == "mlsd":
        network = _aux("mlsd.models.mbv2_mlsd_large").MobileV2_MLSD_Large()
    else:
        network = _aux("open_pose.model").bodypose_model()
    state = {k: v.half() if v.is_floating_point() else v for k, v in network.state_dict().items()}
    if kind == "openpose":
        # the original body checkpoint names layers without their block prefix (open_pose.util.transfer)
        state = {k.split(".", 1)[1]: v for k, v in state.items()}
    torch.save(state, d / KINDS[kind])
    return d
