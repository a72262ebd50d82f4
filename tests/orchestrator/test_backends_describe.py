"""``image-to-text`` offline: the text of an image that has some, else the ImageNet classes of a
picture, labelled as such (no captioning weights ship in a wheel)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.orchestrator.test_backends_images import sample
from tests.orchestrator.test_backends_offline import SAMPLE_TEXT, SENTENCE, load, texts


@pytest.fixture(scope="module")
def describer() -> Any:
    return load("image-to-text", "image-describe")


def test_real_text_needs_letters_not_stray_marks() -> None:
    from orchestrator.backends.describe import has_real_text
    from orchestrator.backends.ocr import NO_TEXT

    assert not has_real_text("0", 3) and not has_real_text("| 1 .", 3) and not has_real_text(NO_TEXT, 3)
    assert has_real_text("STOP", 3) and has_real_text("Total: $52.30", 3)
    assert not has_real_text("a b c", 3)  # single letters are noise too


@pytest.mark.slow
def test_a_picture_gets_its_classes_and_says_it_is_not_a_caption(describer: Any,
                                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    (answer,) = texts(describer.run("image-to-text", {"image": sample("chelsea", tmp_path_factory)}))
    assert answer.startswith("No captioning model runs here"), answer
    assert "ImageNet classes (EfficientNet-Lite0): " in answer and " cat (" in answer


@pytest.mark.slow
def test_an_image_with_text_gets_exactly_what_ocr_reads() -> None:
    fresh = load("image-to-text", "image-describe")
    assert texts(fresh.run("image-to-text", {"image": SAMPLE_TEXT})) == [SENTENCE]
    assert fresh._classifier is None  # reading text never loads the classifier (nor torch)


def test_the_offline_catalog_tries_the_describer_before_plain_ocr() -> None:
    from orchestrator.catalog import Catalog

    assert [c.backend for c in Catalog.load(offline_default=True).for_task("image-to-text")] == [
        "image-describe", "rapidocr"]
