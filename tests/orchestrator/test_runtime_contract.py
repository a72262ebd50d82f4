"""The ``ModelRuntime`` contract, held by every implementation.

``make_runtime`` is parametrised over the implementations; a new runtime (a cluster one) adds a
``pytest.param`` that builds it running ``tests.fakes.backends.FakeBackend`` cards (options
``sleep``, ``fail``, ``load_fail``). Each test states one clause of ``orchestrator.runtime``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from orchestrator.backends.base import Device
from orchestrator.cache import ModelCache
from orchestrator.catalog import ModelCard
from orchestrator.errors import HgbotError, InputError, TaskTimeout
from orchestrator.runtime import Blob, ModelRuntime
from orchestrator.runtimes import LocalRuntime
from orchestrator.types import FileOutput, TextOutput
from tests.fakes.backends import FakeBackend, content_id, png_bytes
from tests.fakes.runtime import FakeRuntime

MakeRuntime = Callable[..., ModelRuntime]


def _local(task_timeout: float = 300.0, concurrency: int = 4) -> ModelRuntime:
    backend = FakeBackend()
    cache = ModelCache(1 << 30, Device(), backend_lookup=lambda name: backend)
    return LocalRuntime(cache, task_timeout=task_timeout, concurrency=concurrency)


def _fake(task_timeout: float = 300.0, concurrency: int = 4) -> ModelRuntime:
    return FakeRuntime(task_timeout=task_timeout, concurrency=concurrency)


@pytest.fixture(params=[pytest.param(_local, id="local"), pytest.param(_fake, id="fake")])
async def make_runtime(request: pytest.FixtureRequest) -> AsyncIterator[MakeRuntime]:
    made: list[ModelRuntime] = []

    def make(**kw: Any) -> ModelRuntime:
        runtime: ModelRuntime = request.param(**kw)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        await runtime.drain()
        await runtime.close()


def card(model_id: str, task: str = "summarization", **options: Any) -> ModelCard:
    return ModelCard(id=model_id, task=task, backend="fake", size=1, options=options)


async def test_a_step_returns_its_outputs_and_starts_once(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime()
    starts: list[float] = []
    out = await runtime.run(card("sum"), "summarization", {"text": "a long story"},
                            on_start=lambda: starts.append(time.monotonic()))
    assert len(out) == 1 and isinstance(out[0], TextOutput)
    assert "a long story" in out[0].text and "sum" in out[0].text
    assert len(starts) == 1


async def test_file_values_cross_as_bytes_and_files_come_back_as_bytes(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime()
    image = png_bytes("blue")
    caption = await runtime.run(card("cap", "image-to-text"), "image-to-text",
                                {"image": Blob(image, "image/png", ".png")})
    assert isinstance(caption[0], TextOutput) and f"image={content_id(image)}" in caption[0].text
    drawn = await runtime.run(card("draw", "text-to-image"), "text-to-image", {"text": "a lighthouse"})
    assert isinstance(drawn[0], FileOutput) and drawn[0].data.startswith(b"\x89PNG")


async def test_warm_cards_are_the_ones_that_ran(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime()
    a, b = card("a"), card("b")
    assert not runtime.is_warm(a) and runtime.warm() == []
    await runtime.run(a, "summarization", {"text": "x"})
    assert runtime.is_warm(a) and not runtime.is_warm(b)
    assert runtime.warm() == [a.key]
    assert runtime.fits(b)
    await runtime.close()
    assert runtime.warm() == []


async def test_a_model_failure_is_raised_and_is_not_a_timeout(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime()
    with pytest.raises(Exception, match="exploded") as info:
        await runtime.run(card("bad", fail=True), "summarization", {"text": "x"})
    assert not isinstance(info.value, TaskTimeout | InputError)


async def test_a_load_failure_is_an_hgbot_error_and_the_step_never_starts(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime()
    starts: list[int] = []
    with pytest.raises(HgbotError, match="nope"):
        await runtime.run(card("nope", load_fail=True), "summarization", {"text": "x"},
                          on_start=lambda: starts.append(1))
    assert starts == []


async def test_a_timed_out_step_is_reported_at_its_timeout_and_keeps_its_slot(make_runtime: MakeRuntime) -> None:
    runtime = make_runtime(task_timeout=0.3, concurrency=1)
    began = time.monotonic()
    with pytest.raises(TaskTimeout, match="slow timed out after"):
        await runtime.run(card("slow", sleep=1.2), "summarization", {"text": "x"})
    assert time.monotonic() - began < 1.0  # heard at the timeout, not when the work ends
    fast = asyncio.create_task(runtime.run(card("fast"), "summarization", {"text": "y"}))
    await asyncio.sleep(0.3)
    assert not fast.done()  # the slow step still runs, so its slot is still taken
    assert isinstance((await asyncio.wait_for(fast, 10))[0], TextOutput)
    assert time.monotonic() - began >= 1.2
    await runtime.drain()
