"""The model backend interface: one small class per kind of runtime.

A backend turns a catalog card into a loaded model (blocking: the executor calls it in a
worker thread) and a loaded model turns resolved inputs into outputs (also blocking).
Inputs map an arg key (``text``, ``image``, ``audio``, ``video``, ``context``) to a string
(text) or a ``Path`` (files, already type-checked).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..catalog import ModelCard
from ..types import Output

Inputs = dict[str, str | Path]


@dataclass(frozen=True)
class Device:
    """Where models run: ``cpu`` or ``cuda``; ``half`` means fp16 weights (only on cuda)."""

    name: str = "cpu"
    half: bool = False


class LoadedModel(Protocol):
    size_bytes: int  # memory it holds, for the cache budget

    def run(self, task: str, inputs: Inputs) -> list[Output]: ...


class Backend(Protocol):
    """A kind of runtime. Built-ins also declare ``tasks`` (a frozenset of the tasks they serve;
    empty: decided per model) and ``per_task`` (True when a model is loaded once per task, as a
    transformers pipeline is); read them with ``backends.declared_tasks`` / ``loads_per_task``,
    which default them for plugins that do not."""

    name: str

    def available(self) -> str | None:
        """None when this backend can run here, else a sentence saying what to install."""
        ...

    def load(self, card: ModelCard, device: Device) -> LoadedModel: ...
