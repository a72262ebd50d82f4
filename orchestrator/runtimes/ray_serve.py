"""The cluster side of :mod:`orchestrator.runtimes.ray`: the Ray Serve deployment that runs model steps.

One deployment per GPU share (``hgbot-gpu-0.25``, ``hgbot-cpu``, ...). Each replica keeps its models
in Ray Serve's multiplexed LRU (``@serve.multiplexed``), keyed by the card's cache key, so the
router sends a request for a model to a replica that already holds it. Everything a step needs
travels in the request as values (the card, the task, text and file bytes); a replica writes files
to its own temporary directory for backends that need a path, so no filesystem is shared.

A replica runs ``steps_at_once`` model calls at a time (1 on a GPU share) and lets one more request
wait inside it: Serve refuses a request to a replica at ``max_ongoing_requests`` and then routes it
by "fewest models" instead of "holds the model", so with no room to wait, a request sent right after
the previous one finished was sometimes refused (the replica still counted the old one) and landed
on a replica without the model, evicting one there (112 and 117 of 120 back-to-back warm requests
hit with no room, 120 of 120 with it; both with the runtime's ``RoutingSettle``), or the router backed
off and retried (one replica: 1.35 steps/s of a 0.5 s model with no room, 1.98 with it).

A cancelled request (the caller's timeout) cancels ``run``, but a model call (or load) in a thread
cannot be interrupted. If it has not returned ``cancel_grace_s`` later, the replica ends its own process: Ray
frees the GPU share, Serve replaces the replica, and requests waiting on it are retried elsewhere by
the caller (as for any lost replica). Until then the replica's slot stays taken, so no new step
shares the GPU with the runaway one.

This module imports Ray; only the Ray runtime imports it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import serve

from ..backends import BackendRegistry
from ..backends.base import Device, LoadedModel
from ..catalog import ModelCard
from ..types import Output

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WireFile:
    """A file input crossing the cluster: its name (for the suffix backends look at) and bytes."""

    name: str
    data: bytes


WireInputs = dict[str, "str | WireFile"]


@dataclass(frozen=True)
class StepResult:
    outputs: list[Output]
    where: str  # the node that ran it: host/node id
    replica: str  # the replica on that node (for the routing figures)
    warm: bool = False  # the model was in this replica's LRU when the step arrived (no load)


@dataclass(frozen=True)
class ServerOptions:
    device: str = "cpu"
    half: bool = False
    max_models: int = 2  # the multiplexed LRU's size per replica
    steps_at_once: int = 1  # model calls running at once on a replica (1 on a GPU share)
    cancel_grace_s: float = 5.0  # how long a cancelled model call may keep running before the replica exits
    # Extra backends a replica registers at start ("name" -> "module:factory"): plugins and test fakes
    # that are not in the built-in registry.
    backends: tuple[tuple[str, str], ...] = ()


def _factory(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def _local(inputs: WireInputs, tmp: Path) -> dict[str, str | Path]:
    """Text as is; file bytes written under ``tmp`` for backends that read a path."""
    local: dict[str, str | Path] = {}
    for key, value in inputs.items():
        if isinstance(value, WireFile):
            path = tmp / f"{key}-{Path(value.name).name}"
            path.write_bytes(value.data)
            local[key] = path
        else:
            local[key] = value
    return local


def build_server(options: ServerOptions) -> Any:
    """The deployment class, built here because the LRU size is fixed when ``@serve.multiplexed``
    decorates the method."""

    class ModelServer:
        def __init__(self) -> None:
            import ray

            self._backends = BackendRegistry.default()  # this replica's own: built-ins, plugins, extras
            for name, spec in options.backends:
                self._backends.register(name, _factory(spec)())
            self._device = Device(options.device, options.half)
            self._cards: dict[str, ModelCard] = {}
            self._slots = asyncio.Semaphore(options.steps_at_once)
            self._watchers: set[asyncio.Future[None]] = set()
            node = ray.get_runtime_context().get_node_id()
            self._where = f"{socket.gethostname()}/{node[:8]}"
            self._replica = f"{self._where}/pid{os.getpid()}"

        @serve.multiplexed(max_num_models_per_replica=options.max_models)  # type: ignore[untyped-decorator]
        async def get_model(self, model_id: str) -> LoadedModel:
            card = self._cards[model_id]
            work = asyncio.ensure_future(asyncio.to_thread(self._backends.get(card.backend).load, card, self._device))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:  # the time limit counts the load too; a runaway load is stopped alike
                self._watch(work, card.id)
                raise

        async def run(self, card: ModelCard, task: str, inputs: WireInputs) -> StepResult:
            model_id = serve.get_multiplexed_model_id()
            self._cards[model_id] = card
            warm = model_id in self._held()
            model = await self.get_model(model_id)
            tmp = tempfile.mkdtemp(prefix="hgbot-step-")
            try:
                local = _local(inputs, Path(tmp))
                await self._slots.acquire()
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            work = asyncio.ensure_future(asyncio.to_thread(model.run, task, local))
            # The slot and the files go when the model call really returns, not when the request
            # does: a cancelled call may still be using both.
            work.add_done_callback(lambda _: self._slots.release())
            work.add_done_callback(lambda _: shutil.rmtree(tmp, ignore_errors=True))
            try:
                outputs = await asyncio.shield(work)
            except asyncio.CancelledError:
                self._watch(work, card.id)
                raise
            return StepResult(outputs, self._where, self._replica, warm)

        def _watch(self, work: asyncio.Future[Any], what: str) -> None:
            async def stop_if_still_running() -> None:
                done, _ = await asyncio.wait({work}, timeout=options.cancel_grace_s)
                if not done:
                    log.warning("%s still running %.1fs after its step was cancelled: ending this replica "
                                "so the GPU is freed (Serve starts a new one)", what, options.cancel_grace_s)
                    logging.shutdown()
                    os._exit(1)  # a Python thread cannot be stopped; its process can

            watcher = asyncio.ensure_future(stop_if_still_running())
            self._watchers.add(watcher)  # held: the loop keeps only weak references to tasks
            watcher.add_done_callback(self._watchers.discard)

        def _held(self) -> list[str]:
            # Serve keeps the multiplexed LRU on the instance under this attribute.
            lru = getattr(self, "__serve_multiplex_wrapper", None)
            return [str(k) for k in getattr(lru, "models", {})]

        async def loaded(self) -> list[str]:
            """The model ids in this replica's multiplexed LRU, least recently used first."""
            return self._held()

    return serve.deployment(ModelServer)
