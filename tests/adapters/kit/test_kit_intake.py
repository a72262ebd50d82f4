"""One intake policy for every platform: media's kinds and unknown types pass, archives do not."""

from __future__ import annotations

import pytest

from adapters.kit.intake import accepts, claimed_mime


@pytest.mark.parametrize(("mime", "name", "ok"), [
    ("image/png", "cat.png", True),
    ("audio/x-wav; codecs=1", "memo.wav", True),
    ("video/mp4", "clip.mp4", True),
    ("text/plain", "notes.txt", True),
    ("application/pdf", "paper.pdf", True),  # media reports on it itself
    ("", "mystery", True),  # unknown: the bytes decide
    ("application/octet-stream", "blob.bin", True),
    ("application/x-yaml", "config.yaml", True),  # a suffix media reads as text
    ("application/zip", "photos.zip", False),
    ("application/x-msdownload", "setup.exe", False),
])
def test_what_is_worth_downloading(mime: str, name: str, ok: bool) -> None:
    assert accepts(mime, name) is ok


def test_the_claimed_type_loses_its_parameters_and_falls_back_to_the_name() -> None:
    assert claimed_mime("a.png", "IMAGE/PNG; q=1") == "image/png"
    assert claimed_mime("a.png", None) == "image/png"
    assert claimed_mime("noext", "") == "application/octet-stream"
