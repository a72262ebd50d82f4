"""``LocalRuntime``: model steps in this process, in worker threads, under one memory budget.

It owns what the executor used to: the model cache (``ModelCache``: LRU under a byte budget),
the concurrency slots of the device, the per-step timeout and the worker threads. The in-process
chat LLM borrows its model through ``lease`` so it counts against the same budget.

Backends take files as paths, so file values (``Blob``) are written to a temporary directory
for the step and removed when its work has stopped; the port itself never carries a path.

A Python thread cannot be killed: a step that times out is reported at its timeout
(``TaskTimeout``), but its slot and its model stay held until the thread really returns, so the
slots count work that is really running and runaway steps queue new work instead of piling up.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from ..backends.base import Inputs, LoadedModel
from ..cache import ModelCache
from ..catalog import ModelCard
from ..errors import InputError, TaskTimeout
from ..runtime import Blob, BlobReference, OnStart, OnWhere, StepInputs
from ..types import Output

log = logging.getLogger(__name__)

ReadBlob = Callable[[BlobReference], Awaitable[Blob]]

_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,10}$")


class LocalRuntime:
    """Runs steps on ``cache``'s models, at most ``concurrency`` at a time, each for at most
    ``task_timeout`` seconds once started. ``read_blob`` turns a blob reference into bytes (a
    step given a reference without it fails with ``InputError``)."""

    def __init__(self, cache: ModelCache, *, task_timeout: float = 300.0, concurrency: int = 4,
                 read_blob: ReadBlob | None = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.cache = cache
        self.task_timeout = task_timeout
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._read_blob = read_blob
        # Steps still running in their threads (some past their timeout): kept referenced so they
        # are not garbage-collected, and so ``drain`` can wait for them.
        self._working: set[asyncio.Task[list[Output]]] = set()

    # --- the port ---------------------------------------------------------------------------------

    def is_warm(self, card: ModelCard) -> bool:
        return self.cache.is_loaded(card)

    def fits(self, card: ModelCard) -> bool:
        return self.cache.fits(card)

    def warm(self) -> list[str]:
        return self.cache.loaded()

    async def run(self, card: ModelCard, task: str, inputs: StepInputs, *,
                  on_start: OnStart | None = None, on_where: OnWhere | None = None) -> list[Output]:
        started = asyncio.Event()

        async def occupy() -> list[Output]:
            async with self._slots, self.cache.use(card) as model:
                with tempfile.TemporaryDirectory(prefix="hgbot-step-") as tmp:
                    local = await self._materialise(inputs, Path(tmp))
                    started.set()
                    return await asyncio.to_thread(model.run, task, local)

        work = asyncio.create_task(occupy(), name=f"model {card.id} for {task}")
        self._working.add(work)
        work.add_done_callback(self._forget)
        waiting = asyncio.create_task(started.wait())
        try:
            await asyncio.wait((work, waiting), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            if not started.is_set():  # still queued or loading: nothing runs yet, so it can go
                work.cancel()
            raise
        finally:
            waiting.cancel()
        if not started.is_set():
            return work.result()  # raises the load (or input) failure
        if on_start is not None:
            on_start()
        try:
            # shield: a timeout (or a cancelled request) must not cancel ``occupy``, which would
            # release the slot (and delete the step's files) while the thread keeps running.
            return await asyncio.wait_for(asyncio.shield(work), timeout=self.task_timeout)
        except TimeoutError:
            raise TaskTimeout(f"{card.id} timed out after {self.task_timeout:.0f}s") from None

    async def drain(self) -> None:
        while self._working:
            await asyncio.wait(set(self._working))

    async def close(self) -> None:
        # No drain: a timed-out thread may run for minutes and cannot be stopped; it keeps its own
        # reference to its model, so dropping the cache's references is safe.
        for key in self.cache.loaded():
            self.cache.evict(key)

    # --- beyond the port --------------------------------------------------------------------------

    def lease(self, card: ModelCard) -> AbstractAsyncContextManager[LoadedModel]:
        """``card``'s model, loaded under the budget and kept from eviction while the block runs
        (the in-process chat LLM uses this between its calls)."""
        return self.cache.use(card)

    # --- helpers ----------------------------------------------------------------------------------

    async def _materialise(self, inputs: StepInputs, tmp: Path) -> Inputs:
        """Backends' inputs: text as is, file values as files under ``tmp``."""
        local: Inputs = {}
        for key, value in inputs.items():
            if isinstance(value, str):
                local[key] = value
                continue
            if isinstance(value, Blob):
                blob = value
            elif self._read_blob is not None:
                blob = await self._read_blob(value)
            else:
                raise InputError(f"The {key} input is a stored file this runtime cannot read.")
            path = tmp / f"{key}{_suffix(blob)}"
            await asyncio.to_thread(path.write_bytes, blob.data)
            local[key] = path
        return local

    def _forget(self, work: asyncio.Task[list[Output]]) -> None:
        self._working.discard(work)
        if not work.cancelled() and work.exception() is not None:
            # Only reached unseen for a step that timed out; its error no longer matters.
            log.debug("%s ended with %r after its timeout", work.get_name(), work.exception())


def _suffix(blob: Blob) -> str:
    """A safe extension for the step's file: the blob's own, else one guessed from its MIME type."""
    if _SUFFIX.match(blob.suffix):
        return blob.suffix.lower()
    guessed = mimetypes.guess_extension(blob.mime.split(";")[0].strip()) if blob.mime else None
    return guessed if guessed and _SUFFIX.match(guessed) else ""

