"""The cluster side of :mod:`orchestrator.runtimes.ray`: the Ray Serve deployment that runs model steps.

One deployment per GPU share (``hgbot-gpu-0.25``, ``hgbot-cpu``, ...). Each replica keeps its models
in Ray Serve's multiplexed LRU (``@serve.multiplexed``), keyed by the card's cache key, so the
router sends a request for a model to a replica that already holds it. Everything a step needs
travels in the request as values (the card, the task, text and file bytes); a replica writes files
to its own temporary directory for backends that need a path, so no filesystem is shared.

This module imports Ray; only the Ray runtime imports it.
"""

from __future__ import annotations

import asyncio
import importlib
import os
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


@dataclass(frozen=True)
class ServerOptions:
    device: str = "cpu"
    half: bool = False
    max_models: int = 2  # the multiplexed LRU's size per replica
    # Extra backends a replica registers at start ("name" -> "module:factory"): plugins and test fakes
    # that are not in the built-in registry.
    backends: tuple[tuple[str, str], ...] = ()


def _factory(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


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
            node = ray.get_runtime_context().get_node_id()
            self._where = f"{socket.gethostname()}/{node[:8]}"
            self._replica = f"{self._where}/pid{os.getpid()}"

        @serve.multiplexed(max_num_models_per_replica=options.max_models)  # type: ignore[untyped-decorator]
        async def get_model(self, model_id: str) -> LoadedModel:
            card = self._cards[model_id]
            return await asyncio.to_thread(self._backends.get(card.backend).load, card, self._device)

        async def run(self, card: ModelCard, task: str, inputs: WireInputs) -> StepResult:
            model_id = serve.get_multiplexed_model_id()
            self._cards[model_id] = card
            model = await self.get_model(model_id)
            with tempfile.TemporaryDirectory(prefix="hgbot-step-") as tmp:
                local: dict[str, str | Path] = {}
                for key, value in inputs.items():
                    if isinstance(value, WireFile):
                        path = Path(tmp) / f"{key}-{Path(value.name).name}"
                        path.write_bytes(value.data)
                        local[key] = path
                    else:
                        local[key] = value
                outputs = await asyncio.to_thread(model.run, task, local)
            return StepResult(outputs, self._where, self._replica)

        async def loaded(self) -> list[str]:
            """The model ids in this replica's multiplexed LRU (Serve keeps it on the instance)."""
            lru = getattr(self, "__serve_multiplex_wrapper", None)
            return [str(k) for k in getattr(lru, "models", {})]

    return serve.deployment(ModelServer)
