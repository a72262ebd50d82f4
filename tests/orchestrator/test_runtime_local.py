"""LocalRuntime beyond the shared contract: files become temporary paths for backends and are
removed after the step, blob references need a reader, and leases count against the budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orchestrator.backends.base import Device
from orchestrator.cache import ModelCache
from orchestrator.catalog import ModelCard
from orchestrator.errors import InputError, LLMUnavailable
from orchestrator.llm import InProcessLLM
from orchestrator.runtime import Blob, BlobReference
from orchestrator.runtimes import LocalRuntime
from orchestrator.types import Output, TextOutput

MB = 1024 * 1024


@dataclass
class PathModel:
    """Records the path it was given and whether that file existed while it ran."""

    seen: list[tuple[Path, bytes]] = field(default_factory=list)
    size_bytes: int = 60 * MB

    def run(self, task: str, inputs: dict[str, Any]) -> list[Output]:
        path = inputs["image"]
        self.seen.append((path, path.read_bytes()))
        return [TextOutput("ok")]

    async def complete_json(self, messages: Any, schema: Any, max_tokens: int = 512) -> str:
        return "{}"

    async def stream(self, messages: Any, max_tokens: int = 256) -> Any:
        yield "hi"


@dataclass
class OneModelBackend:
    model: PathModel
    name: str = "fake"
    fail: bool = False

    def available(self) -> str | None:
        return None

    def load(self, card: ModelCard, device: Device) -> PathModel:
        if self.fail:
            raise OSError("no weights")
        return PathModel(size_bytes=max(card.size, 1)) if card.id != "one" else self.model


def make(budget: int = 100 * MB, fail: bool = False) -> tuple[LocalRuntime, PathModel]:
    model = PathModel()
    backend = OneModelBackend(model, fail=fail)
    cache = ModelCache(budget, Device(), backend_lookup=lambda name: backend)
    return LocalRuntime(cache, task_timeout=5.0, concurrency=2), model


def card(model_id: str, size: int = 60 * MB) -> ModelCard:
    return ModelCard(id=model_id, task="image-to-text", backend="fake", size=size)


@dataclass(frozen=True)
class Ref:
    sha256: str
    suffix: str = ".png"


async def test_a_blob_reaches_the_backend_as_a_temporary_file_with_its_suffix() -> None:
    runtime, model = make()
    await runtime.run(card("one"), "image-to-text", {"image": Blob(b"\x89PNG-bytes", "image/png", ".png")})
    await runtime.run(card("one"), "image-to-text", {"image": Blob(b"jpeg-bytes", "image/jpeg")})
    (png, png_data), (jpg, jpg_data) = model.seen
    assert png.suffix == ".png" and png_data == b"\x89PNG-bytes"
    assert jpg.suffix == ".jpg" and jpg_data == b"jpeg-bytes"  # guessed from the MIME type
    assert not png.exists() and not jpg.exists()  # removed once the step's work stopped


async def test_a_blob_reference_needs_a_reader() -> None:
    runtime, model = make()
    assert isinstance(Ref("ab" * 32), BlobReference)
    with pytest.raises(InputError, match="cannot read"):
        await runtime.run(card("one"), "image-to-text", {"image": Ref("ab" * 32)})

    async def read(ref: BlobReference) -> Blob:
        return Blob(f"bytes of {ref.sha256[:4]}".encode(), "image/png", ref.suffix)

    model2 = PathModel()
    backend = OneModelBackend(model2)
    reading = LocalRuntime(ModelCache(100 * MB, Device(), backend_lookup=lambda name: backend), read_blob=read)
    await reading.run(card("one"), "image-to-text", {"image": Ref("ab" * 32)})
    assert model2.seen[0][1] == b"bytes of abab" and model2.seen[0][0].suffix == ".png"


async def test_a_leased_model_counts_against_the_budget_and_is_not_evicted_while_held() -> None:
    runtime, _ = make(budget=100 * MB)
    chat = card("chat")
    async with runtime.lease(chat):
        await runtime.run(card("one"), "image-to-text", {"image": Blob(b"x", "image/png", ".png")})
        assert runtime.is_warm(chat)  # over budget together, but the chat model is in use
    await runtime.run(card("other"), "image-to-text", {"image": Blob(b"x", "image/png", ".png")})
    assert not runtime.is_warm(chat)  # once released it is an ordinary cache entry: evicted first


async def test_the_in_process_llm_borrows_its_model_through_a_lease() -> None:
    runtime, _ = make()
    chat = card("chat")
    llm = InProcessLLM(name="local", lease=lambda: runtime.lease(chat))  # type: ignore[arg-type,return-value]
    assert await llm.complete_json([{"role": "user", "content": "hi"}], {}, "x") == "{}"
    assert [c async for c in llm.stream([{"role": "user", "content": "hi"}])] == ["hi"]
    assert runtime.warm() == [chat.key]

    broken, _ = make(fail=True)
    failing = InProcessLLM(name="local", lease=lambda: broken.lease(chat))  # type: ignore[arg-type,return-value]
    with pytest.raises(LLMUnavailable, match="could not be loaded"):
        await failing.complete_json([{"role": "user", "content": "hi"}], {}, "x")
