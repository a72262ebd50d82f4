"""A backend for the force-cancel test: its model sleeps, then leaves a marker file.

Card options: ``sleep`` (seconds), ``marker`` (a path written after the sleep, on the replica's host,
which in the test cluster is this machine); ``load_sleep`` and ``load_marker`` the same for the load.
A marker that never appears proves the call was stopped, not merely abandoned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.backends.base import Device, Inputs
from orchestrator.catalog import ModelCard
from orchestrator.types import Output, TextOutput


@dataclass
class MarkerModel:
    card: ModelCard
    size_bytes: int = 1

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        time.sleep(float(self.card.options.get("sleep", 0)))
        marker = self.card.options.get("marker")
        if marker:
            Path(str(marker)).write_text("the model call ran to the end")
        return [TextOutput(f"{self.card.id} done")]


class MarkerBackend:
    name = "marker"

    def available(self) -> str | None:
        return None

    def load(self, card: ModelCard, device: Device) -> MarkerModel:
        time.sleep(float(card.options.get("load_sleep", 0)))
        marker = card.options.get("load_marker")
        if marker:
            Path(str(marker)).write_text("the load ran to the end")
        return MarkerModel(card)
