"""The model-runtime port: where model steps run, as seen by the executor and the selector.

The executor schedules the task graph; a ``ModelRuntime`` runs one step of it: a task on one
catalog card with input values, returning outputs. ``LocalRuntime`` (``runtimes/local.py``)
runs models in this process under a memory budget; a cluster runtime runs them elsewhere. The
executor and the selector never know which.

Values crossing the port are text, bytes with a MIME type, or a blob reference: never a local
path, so a runtime on another host needs no shared filesystem. A runtime whose backends want a
path writes the bytes to a temporary file of its own.

Contract every implementation keeps (``tests/orchestrator/test_runtime_contract.py``):

- ``run`` returns the model's outputs, or raises: ``InputError`` when the inputs are wrong (another
  model would fail alike), ``TaskTimeout`` when the step ran past the runtime's time limit (counted
  from ``on_start``), another ``HgbotError`` (``ModelError``, ``BackendUnavailable``) or anything a
  model raises, which the executor records before trying the next card.
- ``on_start`` is called once, when the step holds its slot and its model is loaded (so queueing
  and loading do not count against the timeout). A step cancelled before that never runs.
- A step that timed out keeps its concurrency slot until its work has really stopped, so runaway
  steps queue new work instead of piling up; ``drain`` waits for all of them.
- ``is_warm`` and ``fits`` are cheap, synchronous and safe on the event loop: the selector ranks
  with them while planning.
- ``close`` releases models and connections without waiting for timed-out work (``drain`` does
  that); ``run`` after ``close`` is not supported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .catalog import ModelCard
from .types import Output


@dataclass(frozen=True)
class Blob:
    """File content crossing the port by value: bytes with their MIME type.

    ``suffix`` (``.png``, ``.wav``) is a hint for runtimes that must hand a backend a file name
    whose extension tells a decoder the container; it is never a path."""

    data: bytes
    mime: str
    suffix: str = ""

    def __repr__(self) -> str:  # never dump megabytes into a log line
        return f"Blob({len(self.data)} bytes, {self.mime!r})"


@runtime_checkable
class BlobReference(Protocol):
    """A content-addressed reference into a blob store: the shape of ``orchestrator.blobs.BlobRef``
    (sha256 + suffix), stated here so this port does not wait on that module.

    Only its identity crosses the port; a runtime that receives one reads the bytes through the
    blob store it was built with. ``LocalRuntime`` is given values (``str`` or ``Blob``) today."""

    @property
    def sha256(self) -> str: ...

    @property
    def suffix(self) -> str: ...


Value = str | Blob | BlobReference
"""One input value: text, bytes with a MIME type, or a blob reference."""

StepInputs = Mapping[str, Value]

OnStart = Callable[[], None]
OnWhere = Callable[[str], None]  # told the node that ran a step (cluster runtimes; a local one never calls it)


class ModelRuntime(Protocol):
    """Runs model steps; says which cards are warm; closes. See the module docstring for the contract."""

    async def run(self, card: ModelCard, task: str, inputs: StepInputs, *,
                  on_start: OnStart | None = None, on_where: OnWhere | None = None) -> list[Output]:
        """Run ``task`` on ``card`` with ``inputs`` and return its outputs (text or file bytes)."""
        ...

    def is_warm(self, card: ModelCard) -> bool:
        """Whether ``card``'s model is loaded and would start without a load."""
        ...

    def fits(self, card: ModelCard) -> bool:
        """Whether ``card`` can be held at all by this runtime (its memory budget, its devices)."""
        ...

    def warm(self) -> list[str]:
        """Keys (``ModelCard.key``) of the warm models, least recently used first."""
        ...

    async def drain(self) -> None:
        """Wait until every step's work has stopped (timed-out steps included)."""
        ...

    async def close(self) -> None:
        """Stop and release models, threads and connections."""
        ...


__all__ = ["Blob", "BlobReference", "ModelRuntime", "OnStart", "OnWhere", "StepInputs", "Value"]
