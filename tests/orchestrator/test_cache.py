"""ModelCache: single loads, LRU order, eviction under a byte budget, errors, device detection."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from orchestrator.backends.base import Device, Inputs
from orchestrator.cache import ModelCache
from orchestrator.catalog import ModelCard
from orchestrator.errors import BackendUnavailable, ConfigError, ModelError
from orchestrator.types import FileOutput, Output, TextOutput

MB = 1024 * 1024


@dataclass
class FakeModel:
    name: str
    size_bytes: int

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        return [TextOutput(self.name)]


@dataclass
class FakeBackend:
    """Counts loads; ``sizes`` gives a model's real size (else its card's); ``fail`` ids raise."""

    name: str = "fake"
    sizes: dict[str, int] = field(default_factory=dict)
    fail: dict[str, Exception] = field(default_factory=dict)
    delay: float = 0.0
    problem: str | None = None
    loads: list[str] = field(default_factory=list)
    gate: threading.Event | None = None

    def available(self) -> str | None:
        return self.problem

    def load(self, card: ModelCard, device: Device) -> FakeModel:
        self.loads.append(card.id)
        if self.gate is not None:
            self.gate.wait(5)
        if card.id in self.fail:
            raise self.fail[card.id]
        return FakeModel(card.id, self.sizes.get(card.id, card.size))


def card(model_id: str, size: int = 10 * MB, task: str = "text-generation") -> ModelCard:
    return ModelCard(id=model_id, task=task, backend="fake", size=size)


def make(budget: int, backend: FakeBackend | None = None) -> tuple[ModelCache, FakeBackend]:
    backend = backend or FakeBackend()
    return ModelCache(budget, Device(), backend_lookup=lambda name: backend), backend


async def test_hit_returns_the_same_model_without_reloading() -> None:
    cache, backend = make(100 * MB)
    first = await cache.get(card("a"))
    assert await cache.get(card("a")) is first
    assert backend.loads == ["a"]
    assert cache.is_loaded(card("a")) and not cache.is_loaded(card("b"))


async def test_concurrent_gets_share_one_load() -> None:
    gate = threading.Event()
    cache, backend = make(100 * MB, FakeBackend(gate=gate))
    getters = [asyncio.create_task(cache.get(card("a"))) for _ in range(5)]
    await asyncio.sleep(0.05)
    gate.set()
    models = await asyncio.gather(*getters)
    assert backend.loads == ["a"]
    assert all(m is models[0] for m in models)


async def test_a_pipeline_for_another_task_is_another_entry() -> None:
    cache, backend = make(100 * MB)
    await cache.get(replace(card("a", task="text-to-image"), backend="diffusers"))
    await cache.get(replace(card("a", task="image-to-image"), backend="diffusers"))
    assert backend.loads == ["a", "a"]
    assert len(cache.loaded()) == 2


async def test_a_task_agnostic_model_is_loaded_once_for_all_its_tasks() -> None:
    cache, backend = make(100 * MB)
    first = await cache.get(card("a", task="summarization"))
    assert await cache.get(card("a", task="translation")) is first
    assert backend.loads == ["a"]


async def test_lru_order_and_eviction() -> None:
    cache, backend = make(100 * MB)
    a, b, c = card("a", 40 * MB), card("b", 40 * MB), card("c", 40 * MB)
    await cache.get(a)
    await cache.get(b)
    await cache.get(a)  # a hit makes a the most recent
    assert cache.loaded() == [b.key, a.key]
    await cache.get(c)
    assert cache.loaded() == [a.key, c.key]  # b was least recently used
    assert cache.used_bytes == 80 * MB


async def test_real_size_counts_not_the_card_estimate() -> None:
    backend = FakeBackend(sizes={"a": 70 * MB})
    cache, _ = make(100 * MB, backend)
    await cache.get(card("a", 10 * MB))  # the card underestimates
    await cache.get(card("b", 40 * MB))
    assert cache.loaded() == [card("b").key]


async def test_room_is_made_before_loading() -> None:
    """On a GPU, loading first and evicting after could run out of memory."""
    seen: list[list[str]] = []
    cache, backend = make(100 * MB)
    original = backend.load

    def spying_load(c: ModelCard, device: Device) -> FakeModel:
        seen.append(cache.loaded())
        return original(c, device)

    backend.load = spying_load  # type: ignore[method-assign,assignment]
    await cache.get(card("a", 60 * MB))
    await cache.get(card("b", 60 * MB))
    assert seen[1] == []


async def test_models_in_use_are_not_evicted() -> None:
    cache, _ = make(100 * MB)
    a = card("a", 60 * MB)
    async with cache.use(a) as model:
        assert isinstance(model, FakeModel)
        await cache.get(card("b", 60 * MB))
        assert cache.is_loaded(a)  # over budget for now, but a is running
    await cache.get(card("c", 30 * MB))
    assert not cache.is_loaded(a)


async def test_oversized_model_loads_alone_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    cache, _ = make(100 * MB)
    await cache.get(card("small", 10 * MB))
    big = card("big", 300 * MB)
    with caplog.at_level(logging.WARNING, logger="orchestrator.cache"):
        model = await cache.get(big)
    assert isinstance(model, FakeModel)
    assert cache.loaded() == [big.key]
    assert "more than the whole model budget" in caplog.text
    assert not cache.fits(big) and cache.fits(card("small", 10 * MB))


async def test_load_errors_become_model_errors_and_are_not_cached() -> None:
    boom = RuntimeError("CUDA out of memory\nlong traceback text")
    cache, backend = make(100 * MB, FakeBackend(fail={"a": boom}))
    with pytest.raises(ModelError) as info:
        await cache.get(card("a"))
    assert str(info.value) == "Could not load a: CUDA out of memory"
    assert info.value.__cause__ is boom
    assert not cache.is_loaded(card("a"))
    del backend.fail["a"]
    assert isinstance(await cache.get(card("a")), FakeModel)  # a later get tries again
    assert backend.loads == ["a", "a"]


async def test_concurrent_waiters_all_see_the_failure() -> None:
    gate = threading.Event()
    cache, backend = make(100 * MB, FakeBackend(fail={"a": OSError("no such dir")}, gate=gate))
    getters = [asyncio.create_task(cache.get(card("a"))) for _ in range(3)]
    await asyncio.sleep(0.05)
    gate.set()
    results = await asyncio.gather(*getters, return_exceptions=True)
    assert all(isinstance(r, ModelError) for r in results)
    assert backend.loads == ["a"]


async def test_backend_unavailable_passes_through() -> None:
    cache, _ = make(100 * MB, FakeBackend(fail={"a": BackendUnavailable("cannot run that task")}))
    with pytest.raises(BackendUnavailable, match="cannot run that task"):
        await cache.get(card("a"))
    cache, backend = make(100 * MB, FakeBackend(problem="pip install the thing"))
    with pytest.raises(BackendUnavailable, match="pip install the thing"):
        await cache.get(card("a"))
    assert backend.loads == []


async def test_a_cancelled_caller_does_not_cancel_the_load() -> None:
    gate = threading.Event()
    cache, backend = make(100 * MB, FakeBackend(gate=gate))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(cache.get(card("a")), timeout=0.05)
    gate.set()
    model = await cache.get(card("a"))  # joins the load still in flight
    assert backend.loads == ["a"] and isinstance(model, FakeModel)


async def test_evict() -> None:
    cache, _ = make(100 * MB)
    await cache.get(card("a"))
    cache.evict(card("a").key)
    cache.evict("unknown")  # no-op
    assert cache.loaded() == []


# --- device and budget ----------------------------------------------------------------------------


def test_detect_cpu_does_not_import_torch() -> None:
    code = ("import sys; from orchestrator.cache import ModelCache; d = ModelCache.detect_device('cpu'); "
            "assert (d.name, d.half) == ('cpu', False); assert 'torch' not in sys.modules, 'torch imported'")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_detect_auto_and_bad_preferences() -> None:
    torch = pytest.importorskip("torch")
    device = ModelCache.detect_device("auto")
    if torch.cuda.is_available():
        assert device == Device("cuda", half=True)
    else:
        assert device == Device("cpu", half=False)
        with pytest.raises(ConfigError, match="no CUDA"):
            ModelCache.detect_device("cuda")
    with pytest.raises(ConfigError, match="Unknown device"):
        ModelCache.detect_device("tpu")


def test_default_budget_on_cpu_is_half_the_ram() -> None:
    import os

    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert ModelCache.default_budget(Device("cpu")) == int(ram * 0.5)


# --- with the real transformers backend -----------------------------------------------------------


async def test_real_tiny_models_load_and_evict(tiny_models: dict[str, Path]) -> None:
    def tiny(task: str) -> ModelCard:
        path = tiny_models[task]
        return ModelCard(id=f"tiny/{path.name}", task=task, backend="transformers", path=str(path))

    cache = ModelCache(150_000, Device())  # fits one ~100 kB model, not two
    cls = tiny("text-classification")
    model = await cache.get(cls)
    assert 0 < model.size_bytes <= 150_000
    assert isinstance(model.run("text-classification", {"text": "hi"})[0], TextOutput)
    await cache.get(tiny("image-classification"))
    assert cache.loaded() == [tiny("image-classification").key]
    with pytest.raises(ModelError, match="Could not load tiny/missing"):
        await cache.get(ModelCard(id="tiny/missing", task="text-classification", backend="transformers",
                                  path=str(tiny_models["text-classification"].parent / "missing")))


async def test_real_concurrent_loads_do_not_corrupt_each_other(tiny_models: dict[str, Path]) -> None:
    """Loads run in threads; unguarded, two from_pretrained calls at once leave meta tensors."""
    sd = tiny_models["text-to-image"]
    cards = [ModelCard(id=f"tiny/sd-{i}", task="text-to-image", backend="diffusers", path=str(sd),
                       options={"steps": 1, "height": 32, "width": 32}) for i in range(2)]
    cls = tiny_models["text-classification"]
    cards.append(ModelCard(id="tiny/cls", task="text-classification", backend="transformers", path=str(cls)))
    cache = ModelCache(1 << 30, Device())
    models = await asyncio.gather(*(cache.get(c) for c in cards))
    assert len(cache.loaded()) == 3
    assert isinstance(models[1].run("text-to-image", {"text": "a cat"})[0], FileOutput)
