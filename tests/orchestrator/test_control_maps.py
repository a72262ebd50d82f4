"""Control maps as the ControlNets were trained: the seg map in the ADE20K palette."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from orchestrator.backends import get_backend
from orchestrator.backends.base import Device
from orchestrator.backends.control_maps import ADE20K_PALETTE, ade20k_colour, ade20k_map
from orchestrator.catalog import Catalog
from orchestrator.twin_builders import build_twin
from orchestrator.twins import tiny_card
from orchestrator.types import FileOutput


def test_the_palette_is_ade20k() -> None:
    assert len(ADE20K_PALETTE) == 150 and len(set(ADE20K_PALETTE)) > 140
    # wall, building, sky, floor: the classes the seg ControlNet knows best
    assert ADE20K_PALETTE[:4] == ((120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50))
    assert ADE20K_PALETTE[-1] == (92, 0, 255)


def test_segments_are_painted_by_class_index() -> None:
    left = Image.new("L", (4, 2), 0)
    left.paste(255, (0, 0, 2, 2))
    right = Image.new("L", (4, 2), 0)
    right.paste(255, (2, 0, 4, 2))
    seg = ade20k_map((4, 2), [{"label": "sky", "mask": left}, {"label": "Wall", "mask": right}],
                     {"wall": 0, "building": 1, "sky": 2})
    pixels = np.asarray(seg)
    assert tuple(pixels[0, 0]) == ADE20K_PALETTE[2] and tuple(pixels[1, 3]) == ADE20K_PALETTE[0]
    assert ade20k_colour("unknown", {"wall": 0}) == ADE20K_PALETTE[0]


def test_seg_control_card_outputs_only_palette_colours(tmp_path: Path) -> None:
    card = Catalog.load().get("openmmlab/upernet-convnext-small", "seg-control")
    assert card is not None
    twin = build_twin(card.arch, tmp_path / "twin")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (30, 200, 90)).save(photo)
    model = get_backend("transformers").load(tiny_card(card, twin), Device())
    [out] = model.run("seg-control", {"image": photo})
    assert isinstance(out, FileOutput) and out.mime == "image/png"
    img = Image.open(io.BytesIO(out.data)).convert("RGB")
    assert img.size == (40, 30)
    colours = {tuple(int(v) for v in c) for c in np.asarray(img).reshape(-1, 3)}
    assert colours and colours <= set(ADE20K_PALETTE) | {(0, 0, 0)}


@pytest.mark.parametrize("task", ["hed-control", "scribble-control", "mlsd-control", "openpose-control"])
def test_controlnet_aux_detectors_run_on_stand_in_weights(task: str, tmp_path: Path) -> None:
    problem = get_backend("controlnet-aux").available()  # scripts/setup.sh installs it (--no-deps)
    if problem:
        pytest.skip(problem)
    card = Catalog.load().get("lllyasviel/Annotators", task)
    assert card is not None
    twin = build_twin(card.arch, tmp_path / card.arch)
    assert (twin / card.options["file"]).is_file()  # the real file name, read by the real loader
    photo = tmp_path / "photo.png"
    Image.new("RGB", (48, 32), (30, 200, 90)).save(photo)
    model = get_backend("controlnet-aux").load(tiny_card(card, twin), Device())
    [out] = model.run(task, {"image": photo})
    assert isinstance(out, FileOutput)
    img = np.asarray(Image.open(io.BytesIO(out.data)).convert("RGB"))
    assert min(img.shape[:2]) == 64  # the detect/output resolution of the tiny run
    if task == "scribble-control":
        assert set(np.unique(img)) <= {0, 255}  # scribbles are thresholded strokes
    if task == "openpose-control":
        assert model.detector.face_estimation is None  # body only: no torchvision needed


def test_openpose_imports_without_torchvision(monkeypatch: pytest.MonkeyPatch) -> None:
    """The face detector's module imports torchvision, which cannot load on CPU torch from PyPI: a
    placeholder stands in for it and refuses to build a face detector."""
    import sys

    from orchestrator.backends import annotators
    from orchestrator.errors import BackendUnavailable

    if get_backend("controlnet-aux").available():
        pytest.skip("controlnet-aux is not installed")
    for name in [m for m in sys.modules if m.startswith("controlnet_aux.open_pose")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision raises ImportError
    detector = annotators._aux("open_pose").OpenposeDetector
    assert detector is not None
    with pytest.raises(BackendUnavailable, match="face detection needs torchvision"):
        sys.modules["controlnet_aux.open_pose.face"].Face("face.pth")
