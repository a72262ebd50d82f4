"""``FakeRuntime``: the ``ModelRuntime`` port in memory, for tests that do not need real models.

Cards use the options of ``tests.fakes.backends``: ``sleep`` (seconds per run, in a worker thread,
so a timed-out step really keeps running), ``fail`` (raise on every run), ``load_fail`` (fail
before starting). Outputs follow the task registry's output kind; text outputs name the card and
echo the inputs (file values by ``content_id``), so a test can see what arrived.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from orchestrator import tasks as registry
from orchestrator.catalog import ModelCard
from orchestrator.errors import InputError, ModelError, TaskTimeout
from orchestrator.runtime import Blob, OnStart, OnWhere, StepInputs
from orchestrator.types import FileOutput, Output, TextOutput
from tests.fakes.backends import content_id, png_bytes, wav_bytes


@dataclass
class FakeRuntime:
    task_timeout: float = 300.0
    concurrency: int = 4
    calls: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)  # (card id, task, inputs shown)
    _warm: list[str] = field(default_factory=list)
    _working: set[asyncio.Task[list[Output]]] = field(default_factory=set)
    _slots: asyncio.Semaphore | None = None

    def is_warm(self, card: ModelCard) -> bool:
        return card.key in self._warm

    def fits(self, card: ModelCard) -> bool:
        return True

    def warm(self) -> list[str]:
        return list(self._warm)

    async def run(self, card: ModelCard, task: str, inputs: StepInputs, *,
                  on_start: OnStart | None = None, on_where: OnWhere | None = None) -> list[Output]:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        shown = {k: v if isinstance(v, str) else _show(v) for k, v in inputs.items()}
        if any(not isinstance(v, str | Blob) for v in inputs.values()):
            raise InputError("The fake runtime reads no blob store.")
        started = asyncio.Event()

        async def occupy() -> list[Output]:
            async with self._slots:  # type: ignore[union-attr]
                if card.options.get("load_fail"):
                    raise ModelError(f"Could not load {card.id}: no weights here")
                if card.key in self._warm:
                    self._warm.remove(card.key)
                self._warm.append(card.key)
                self.calls.append((card.id, task, shown))
                started.set()
                return await asyncio.to_thread(_answer, card, task, shown)

        work = asyncio.create_task(occupy())
        self._working.add(work)
        work.add_done_callback(self._working.discard)
        waiting = asyncio.create_task(started.wait())
        try:
            await asyncio.wait((work, waiting), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
        if not started.is_set():
            return work.result()
        if on_start is not None:
            on_start()
        try:
            return await asyncio.wait_for(asyncio.shield(work), self.task_timeout)
        except TimeoutError:
            raise TaskTimeout(f"{card.id} timed out after {self.task_timeout:.0f}s") from None

    async def drain(self) -> None:
        while self._working:
            await asyncio.wait(set(self._working))

    async def close(self) -> None:
        self._warm.clear()


def _show(value: object) -> str:
    return content_id(value.data) if isinstance(value, Blob) else "<blob ref>"


def _answer(card: ModelCard, task: str, shown: dict[str, str]) -> list[Output]:
    time.sleep(float(card.options.get("sleep", 0)))
    if card.options.get("fail"):
        raise RuntimeError(f"{card.id} exploded")
    kind = registry.TASKS[task].output
    if kind == "text":
        seen = ", ".join(f"{k}={v}" for k, v in sorted(shown.items()))
        return [TextOutput(f"{task} by {card.id} from {seen}")]
    if kind == "image":
        return [FileOutput("image", png_bytes(), "image/png", ".png")]
    return [FileOutput("audio", wav_bytes(), "audio/wav", ".wav")]
