"""The model cache: loaded models kept in memory under a byte budget, least recently used first out.

Contract:

- ``await get(card)`` returns the loaded model for ``card.key``, loading it in a worker thread on a
  miss. Concurrent ``get`` calls for one key share a single load. A load that is cancelled by its
  caller still finishes and is cached (the worker thread cannot be interrupted anyway).
- Before a load, least recently used models are evicted to make room for ``card.size``; after it,
  again until the total (each model's ``size_bytes``, else its card's ``size``) fits the budget.
  Models inside ``async with cache.use(card)`` are never evicted. A model larger than the whole
  budget still loads, alone, with a warning.
- Load failures raise ``ModelError("Could not load <id>: <reason>")`` with the original exception as
  ``__cause__``; a ``BackendUnavailable`` (or any other ``HgbotError``) from the backend passes through.

All methods run on one event loop; only the loads themselves run in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import sys
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from .backends import get_backend
from .backends.base import Backend, Device, LoadedModel
from .catalog import ModelCard
from .errors import BackendUnavailable, ConfigError, HgbotError, ModelError

log = logging.getLogger(__name__)

_FALLBACK_RAM = 8 * 1024**3


@dataclass
class _Entry:
    card: ModelCard
    model: LoadedModel
    size: int


def _may_have_nvidia_gpu() -> bool:
    """False only when this Linux machine has no NVIDIA device node; elsewhere ask torch."""
    import os
    import sys

    if not sys.platform.startswith("linux"):
        return True
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/nvidia0") or os.path.isdir("/dev/dxg")


class ModelCache:
    def __init__(self, budget_bytes: int, device: Device,
                 backend_lookup: Callable[[str], Backend] = get_backend) -> None:
        self.budget = int(budget_bytes)
        self.device = device
        self._backend = backend_lookup
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # LRU order: oldest first
        self._loading: dict[str, asyncio.Task[LoadedModel]] = {}
        self._in_use: Counter[str] = Counter()

    # --- queries ----------------------------------------------------------------------------------

    def is_loaded(self, card: ModelCard) -> bool:
        return card.key in self._entries

    def fits(self, card: ModelCard) -> bool:
        """Whether ``card`` can be held at all under the budget (evicting others if need be)."""
        return card.size <= self.budget

    def loaded(self) -> list[str]:
        """Keys of the loaded models, least recently used first."""
        return list(self._entries)

    @property
    def used_bytes(self) -> int:
        return sum(e.size for e in self._entries.values())

    # --- loading ----------------------------------------------------------------------------------

    async def get(self, card: ModelCard) -> LoadedModel:
        key = card.key
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry.model
        task = self._loading.get(key)
        if task is None:
            task = asyncio.create_task(self._load(card), name=f"load {key}")
            self._loading[key] = task
            # a failed load nobody awaits any more must not log "exception was never retrieved"
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        # shield: a caller that times out must not cancel the load the others are waiting for
        return await asyncio.shield(task)

    @contextlib.asynccontextmanager
    async def use(self, card: ModelCard) -> AsyncIterator[LoadedModel]:
        """``get`` the model and keep it from being evicted until the block exits."""
        self._in_use[card.key] += 1
        try:
            yield await self.get(card)
        finally:
            self._in_use[card.key] -= 1
            if self._in_use[card.key] <= 0:
                del self._in_use[card.key]

    async def _load(self, card: ModelCard) -> LoadedModel:
        key = card.key
        try:
            backend = self._backend(card.backend)
            problem = backend.available()
            if problem:
                raise BackendUnavailable(problem)
            self._make_room(card.size, keep=key)
            try:
                model = await asyncio.to_thread(backend.load, card, self.device)
            except HgbotError:
                raise
            except Exception as exc:
                raise ModelError(f"Could not load {card.id}: {_short(exc)}") from exc
            size = int(getattr(model, "size_bytes", 0) or 0) or card.size
            self._entries[key] = _Entry(card, model, size)
            if size > self.budget:
                log.warning("%s needs %d MiB, more than the whole model budget (%d MiB); keeping it loaded alone",
                            card.id, size // 2**20, self.budget // 2**20)
            self._make_room(0, keep=key)
            return model
        finally:
            self._loading.pop(key, None)

    # --- eviction ---------------------------------------------------------------------------------

    def _make_room(self, incoming: int, keep: str) -> None:
        """Evict least recently used models (not ``keep``, not in use) until ``incoming`` more bytes fit."""
        for key in list(self._entries):
            if self.used_bytes + incoming <= self.budget:
                return
            if key != keep and not self._in_use.get(key):
                self.evict(key)

    def evict(self, key: str) -> None:
        """Drop the model under ``key`` (no-op when absent) and give its memory back."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        log.info("evicting %s (%d MiB)", key, entry.size // 2**20)
        del entry
        gc.collect()
        torch = sys.modules.get("torch")  # never import torch just to evict
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    # --- device and budget ------------------------------------------------------------------------

    @staticmethod
    def detect_device(preference: str = "auto") -> Device:
        """``auto``: cuda with fp16 when torch sees a GPU, else cpu. ``cpu`` never imports torch.
        ``cuda`` / ``cuda:<n>`` ask for a GPU (fp16) and raise ConfigError when there is none."""
        pref = (preference or "auto").strip().lower()
        if pref == "cpu":
            return Device("cpu", half=False)
        if pref != "auto" and not pref.startswith("cuda"):
            raise ConfigError(f"Unknown device {preference!r}: use auto, cpu or cuda.")
        if pref == "auto" and not _may_have_nvidia_gpu():
            return Device("cpu", half=False)  # without importing torch (seconds) at start-up
        try:
            import torch

            has_cuda = bool(torch.cuda.is_available())
        except ImportError:
            has_cuda = False
        if has_cuda:
            return Device(pref if pref.startswith("cuda") else "cuda", half=True)
        if pref.startswith("cuda"):
            raise ConfigError(f"Device {preference!r} was asked for, but torch sees no CUDA GPU.")
        return Device("cpu", half=False)

    @staticmethod
    def default_budget(device: Device) -> int:
        """80% of the GPU's memory on cuda, 50% of physical RAM on cpu."""
        if device.name.startswith("cuda"):
            import torch

            index = torch.device(device.name).index or 0
            return int(torch.cuda.get_device_properties(index).total_memory * 0.8)
        try:
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            ram = _FALLBACK_RAM
        return int(ram * 0.5)


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
