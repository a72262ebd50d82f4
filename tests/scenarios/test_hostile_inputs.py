"""Ten hostile WAVs through the real App: each refused at intake with a sentence, and the process's
memory and threads are back near where they started (nothing left running in the background)."""

from __future__ import annotations

import gc
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from orchestrator.backends import BackendRegistry
from orchestrator.backends._audio import read_audio
from orchestrator.backends.base import Device, Inputs
from orchestrator.catalog import ModelCard
from orchestrator.errors import InputError
from orchestrator.types import Attachment, ConversationKey, Output, Request, TextOutput
from tests.fakes.hostile_media import HOSTILE_WAVS, wav
from tests.fakes.llm_server import FakeLLMServer


@dataclass
class _Transcriber:
    """Decodes and resamples to 16 kHz like the transformers ASR path, then says how long it was."""

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        wave, rate = read_audio(Path(inputs["audio"]), 16000)
        return [TextOutput(f"{len(wave) / rate:.1f} s of audio")]


class _AudioBackend:
    name = "reads-audio"

    def available(self) -> str | None:
        return None

    def load(self, card: ModelCard, device: Device) -> _Transcriber:
        return _Transcriber()


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


async def test_ten_hostile_wavs_are_refused_and_nothing_keeps_running(
        make_app: Any, fake_llm: FakeLLMServer, backend_registry: BackendRegistry) -> None:
    backend_registry.register("reads-audio", _AudioBackend())
    app = await make_app(catalog=[{"id": "asr", "task": "automatic-speech-recognition", "backend": "reads-audio",
                                   "size": 1}], task_timeout=15)

    def transcribe(req: dict[str, Any]) -> dict[str, Any]:
        return {"tasks": [{"id": 1, "task": "automatic-speech-recognition", "deps": [],
                           "args": {"audio": FakeLLMServer.handles(req)[0]}, "model": None}]}

    def ask(data: bytes, channel: str) -> Request:
        return Request(ConversationKey("test", "w", channel), "transcribe this",
                       attachments=(Attachment("memo.wav", data, "audio/wav"),))

    # A good file first: the whole path works, and warms up what a first request loads.
    fake_llm.script(transcribe)
    ok = await app.orchestrator.handle(ask(wav(rate=8000, frames=8000), "warm"))
    assert ok.ok and ok.runs[0].texts == ["1.0 s of audio"], ok.text
    rss, threads = _rss(), threading.active_count()

    for i, (name, (data, needle)) in enumerate(HOSTILE_WAVS.items()):
        fake_llm.script(transcribe)
        reply = await app.orchestrator.handle(ask(data, f"c{i}"))
        assert reply.error and needle in reply.text, (name, reply.text)
        assert "went wrong" not in reply.text and not reply.runs, (name, reply.text)

    assert not fake_llm.planning_requests()[1:], "a hostile file reached the planner"
    await app.orchestrator.executor.drain()
    assert threading.active_count() <= threads + 1
    assert _rss() - rss < 64 * 1024 * 1024


@pytest.mark.parametrize("name", list(HOSTILE_WAVS))
def test_hostile_wav_cannot_explode_the_loader_either(name: str, tmp_path: Path) -> None:
    # An earlier step's output reaches the loader without intake: the loader bounds it too,
    # refusing it or decoding only what is really there, never more than its limit.
    path = tmp_path / "generated.wav"
    path.write_bytes(HOSTILE_WAVS[name][0])
    try:
        wave_, rate = read_audio(path, 16000, max_seconds=60)
    except (InputError, RuntimeError):  # RuntimeError: soundfile's own "unreadable"
        return
    assert rate == 16000 and len(wave_) <= 60 * 16000
    assert name in ("header promises 4 GB", "header only")  # harmless: a few samples, or none
