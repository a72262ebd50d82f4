"""Fakes for driving the ``Executor`` alone: a scripted model behind a real ``LocalRuntime``, a
one-card selector, an artifact store.

``ScriptedModel`` answers every task with each kind the registry says it produces (so any valid
plan can run end to end), and calls ``hook(task, inputs)`` first to let a test block or record.
It records file inputs by their bytes: the runtime hands it temporary copies, never the store's
paths.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator import tasks as registry
from orchestrator.backends.base import Device
from orchestrator.cache import ModelCache
from orchestrator.catalog import ModelCard
from orchestrator.errors import ArtifactNotFound
from orchestrator.executor import Executor
from orchestrator.runtimes import LocalRuntime
from orchestrator.types import Artifact, FileOutput, Kind, Output, PlanTask, TextOutput
from tests.fakes.backends import png_bytes, wav_bytes

Hook = Callable[[str, dict[str, Any]], None]


@dataclass
class ScriptedModel:
    hook: Hook | None = None
    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    size_bytes: int = 1

    def run(self, task: str, inputs: dict[str, Any]) -> list[Output]:
        self.seen.append((task, {k: v.read_bytes() if isinstance(v, Path) else v for k, v in inputs.items()}))
        if self.hook is not None:
            self.hook(task, inputs)
        spec = registry.TASKS[task]
        out: list[Output] = []
        for kind in (spec.output, *spec.also):
            if kind == "text":
                out.append(TextOutput(f"{task} output"))
            elif kind == "image":
                out.append(FileOutput("image", png_bytes(), "image/png", ".png"))
            else:
                out.append(FileOutput(kind, wav_bytes(0.01), "audio/wav", ".wav"))
        return out


@dataclass
class ScriptedBackend:
    """Loads the one ``ScriptedModel`` for every card."""

    model: ScriptedModel
    name: str = "fake"
    tasks: frozenset[str] = frozenset()
    per_task: bool = False

    def available(self) -> str | None:
        return None

    def load(self, card: ModelCard, device: Device) -> ScriptedModel:
        return self.model


class OneCardSelector:
    def choose(self, pt: PlanTask) -> list[ModelCard]:
        return [ModelCard(id=f"fake/{pt.task}", task=pt.task, backend="fake")]

    def why_none(self, task: str) -> str:
        return "none"


@dataclass
class MemoryStore:
    """The artifact half of the ``Store`` protocol, files under ``root``."""

    root: Path
    items: dict[str, Artifact] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def put_artifact(self, conversation_id: int, data: bytes, *, kind: Kind, mime: str, suffix: str,
                           description: str = "", task: str | None = None, model: str | None = None,
                           filename: str = "", run_id: int | None = None) -> Artifact:
        aid = f"a{next(self._ids)}"
        path = self.root / f"{aid}{suffix}"
        path.write_bytes(data)
        art = Artifact(aid, conversation_id, kind, mime, path, len(data), description, task, model, filename)
        self.items[aid] = art
        return art

    async def get_artifact(self, conversation_id: int, artifact_id: str) -> Artifact:
        art = self.items.get(artifact_id)
        if art is None or art.conversation_id != conversation_id:
            raise ArtifactNotFound(f"There is no file artifact:{artifact_id} in this conversation.")
        return art

    async def read_artifact(self, artifact: Artifact) -> bytes:
        return artifact.path.read_bytes()


def make_executor(tmp: Path, hook: Hook | None = None, *, task_timeout: float = 300.0, max_parallel: int = 4,
                  ) -> tuple[Executor, ScriptedModel, MemoryStore]:
    """An executor over a real ``LocalRuntime`` (``max_parallel`` device slots, ``task_timeout``)."""
    model = ScriptedModel(hook)
    store = MemoryStore(tmp)
    backend = ScriptedBackend(model)
    runtime = LocalRuntime(ModelCache(1 << 30, Device(), backend_lookup=lambda name: backend),
                           task_timeout=task_timeout, concurrency=max_parallel)
    ex = Executor(runtime=runtime, selector=OneCardSelector(), store=store, max_parallel=max_parallel)
    return ex, model, store
