"""The tiny-twin check: every hub card's code path, run offline on a random-weight twin.

For each card that needs a hub download, ``check_cards`` builds the twin of the card's ``arch``
(``twin_builders``; one twin per architecture and weight variant, shared by every card of that
class), points a copy of the card at it, loads it through the card's own backend (same task
mapping, processor, prompt, dtype handling) and runs one inference on a small sample input, then
decodes every output (PNG, WAV, MP4/GIF). A card without an ``arch``, or whose ``arch`` has no
twin, fails: nothing would prove it runs. A card whose ``requires`` modules are missing is skipped
with the reason (the selector never offers it here either).

Only the sizes change on the copy: fewer steps, 32 px images, a few new tokens.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .backends.base import Device, Inputs
from .catalog import ModelCard
from .types import FileOutput, Output, TextOutput

OK, FAIL, SKIP = "ok", "FAIL", "skip"
TWIN_BACKENDS = frozenset({"transformers", "diffusers", "sentence-transformers"})

# Per-task sizes for the twin run; everything else the card says is kept.
_DIFFUSION = {"steps": 2, "height": 32, "width": 32, "seed": 0}
_VIDEO = {"steps": 2, "height": 16, "width": 16, "num_frames": 5, "seed": 0}
_TEXTS = {
    "question-answering": "the cat sits on the mat .",
    "translation": "French",
    "zero-shot-classification": "cat, dog, car",
    "sentence-similarity": "a cat on a mat",
}


@dataclass(frozen=True)
class Verdict:
    card: ModelCard
    twin: str
    status: str  # OK, FAIL or SKIP
    seconds: float
    detail: str = ""

    def line(self) -> str:
        """One line: card, task, twin, verdict, seconds (and why, when it did not pass)."""
        why = f"  {self.detail}" if self.detail and self.status != OK else ""
        return f"{self.card.id:<48} {self.card.task:<28} {self.twin:<40} {self.status:<4} {self.seconds:6.2f}s{why}"


def needs_twin(card: ModelCard) -> bool:
    """Hub cards: weights from a download. Packaged-weight and weight-free cards run as they are."""
    return not card.offline and not card.path


def twin_name(card: ModelCard) -> str:
    return f"{card.arch or '?'}{'-' + card.variant if card.variant else ''}"


def tiny_card(card: ModelCard, twin_dir: Path) -> ModelCard:
    """``card`` pointed at its twin, with run sizes a CPU does in a second."""
    options = dict(card.options)
    if card.backend == "diffusers":
        options.update(_VIDEO if card.task == "text-to-video" else _DIFFUSION)
        if "controlnet" in options:
            options["controlnet"] = str(twin_dir / "controlnet")
    if "max_new_tokens" in options or card.task in ("image-to-text", "visual-question-answering"):
        options["max_new_tokens"] = 4
    if card.backend == "controlnet-aux":
        options["resolution"] = 64  # the detectors are fixed-size networks: a small image keeps them fast
    if card.task == "object-detection":
        options["threshold"] = 0.0  # random weights score low; draw the boxes anyway
    return replace(card, path=str(twin_dir), options=options, revision="")


def sample_inputs(task: str, workdir: Path) -> Inputs:
    """A small input of every kind the task may read: text, a 64x48 image, one second of audio."""
    import numpy as np
    import soundfile as sf
    from PIL import Image, ImageDraw

    image, audio = workdir / "sample.png", workdir / "sample.wav"
    if not image.exists():
        img = Image.new("RGB", (64, 48), (200, 220, 255))
        ImageDraw.Draw(img).rectangle((12, 10, 40, 36), fill=(180, 40, 40), outline=(0, 0, 0))
        img.save(image)
    if not audio.exists():
        t = np.arange(16000) / 16000
        sf.write(audio, (0.3 * np.sin(2 * np.pi * 440 * t)).astype("float32"), 16000)
    inputs: Inputs = {"text": "john lives in paris . a red car on the road"}
    if task in _TEXTS:
        inputs["context"] = _TEXTS[task]
    if task in ("visual-question-answering", "document-question-answering"):
        inputs["text"] = "what is in the picture?"
    inputs["image"] = image
    inputs["audio"] = audio
    return inputs


def check_outputs(outputs: list[Output]) -> str:
    """Decode every output; a short description, or AssertionError when one is empty or unreadable."""
    from PIL import Image

    assert outputs, "no output"
    kinds = []
    for out in outputs:
        if isinstance(out, TextOutput):
            kinds.append("text")
            continue
        assert isinstance(out, FileOutput), f"unexpected output {type(out).__name__}"
        if out.mime == "image/png":
            with Image.open(io.BytesIO(out.data)) as img:
                img.load()
                kinds.append(f"png {img.size[0]}x{img.size[1]}")
        elif out.mime.startswith("audio/"):
            import soundfile as sf

            wave, rate = sf.read(io.BytesIO(out.data))
            assert len(wave) > 0, "empty audio"
            kinds.append(f"wav {rate} Hz")
        elif out.kind == "video":
            assert out.data[4:8] == b"ftyp" or out.data[:3] == b"GIF", "not an MP4 or GIF"
            kinds.append(out.mime)
        else:
            assert out.data, f"empty {out.mime}"
            kinds.append(out.mime)
    return ", ".join(kinds)


def real_card(card: ModelCard) -> ModelCard:
    """``card`` as pulled, with a small run: two steps at 256 px, a few frames, a few new tokens."""
    options = dict(card.options)
    if card.backend == "diffusers":
        options.update({"steps": min(int(options.get("steps", 2)), 2), "height": 256, "width": 256, "seed": 0})
        if card.task == "text-to-video":
            options["num_frames"] = 5
    if "max_new_tokens" in options or card.task in ("image-to-text", "visual-question-answering"):
        options["max_new_tokens"] = 16
    return replace(card, options=options)


def check_cards(cards: Iterable[ModelCard], root: Path, *, device: Device | None = None,
                on_verdict: Callable[[Verdict], None] | None = None) -> list[Verdict]:
    """Run every hub card in ``cards`` on its twin (built under ``root``); one Verdict per card.

    Never raises for a card: a failure is that card's verdict."""
    from .twin_builders import ARCH_BUILDERS, build_twin

    def prepare(card: ModelCard) -> ModelCard | tuple[str, str]:
        if not card.arch or card.arch not in ARCH_BUILDERS:
            return FAIL, f"no twin for architecture {card.arch or '(none given)'}"
        return tiny_card(card, build_twin(card.arch, root / twin_name(card), card.variant))

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a twin is a local directory: never look at the hub
    hub_cards = [c for c in cards if needs_twin(c)]
    return _check(hub_cards, root, device or Device(), on_verdict, prepare, twin_name)


def check_real(cards: Iterable[ModelCard], root: Path, *, device: Device | None = None,
               on_verdict: Callable[[Verdict], None] | None = None) -> list[Verdict]:
    """Load each card's real weights (pulled, or a local ``path``) and run one small inference; one
    Verdict per card."""
    return _check(cards, root, device or Device(), on_verdict, real_card, lambda c: "(real weights)")


def _check(cards: Iterable[ModelCard], root: Path, device: Device, on_verdict: Callable[[Verdict], None] | None,
           prepare: Callable[[ModelCard], ModelCard | tuple[str, str]],
           label: Callable[[ModelCard], str]) -> list[Verdict]:
    from .backends import get_backend

    root.mkdir(parents=True, exist_ok=True)
    verdicts: list[Verdict] = []
    for card in cards:
        started = time.perf_counter()
        status, detail = OK, ""
        try:
            if (problem := card.missing_requirements()) is not None:
                status, detail = SKIP, problem
            elif (problem := get_backend(card.backend).available()) is not None:
                status, detail = SKIP, problem
            else:
                ready = prepare(card)
                if isinstance(ready, tuple):
                    status, detail = ready
                else:
                    model = get_backend(card.backend).load(ready, device)
                    detail = check_outputs(model.run(card.task, sample_inputs(card.task, root)))
        except Exception as exc:  # the verdict of this card, not a crash of the check
            text = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            status, detail = FAIL, f"{type(exc).__name__}: {text}"
        verdict = Verdict(card, label(card), status, time.perf_counter() - started, detail)
        verdicts.append(verdict)
        if on_verdict is not None:
            on_verdict(verdict)
    return verdicts


def summary(verdicts: list[Verdict], seconds: float) -> str:
    counts: dict[str, Any] = {s: sum(v.status == s for v in verdicts) for s in (OK, FAIL, SKIP)}
    twins = len({v.twin for v in verdicts})
    return (f"{len(verdicts)} hub cards on {twins} twin(s): {counts[OK]} ok, {counts[FAIL]} failed, "
            f"{counts[SKIP]} skipped, {seconds:.1f}s")
