"""Stage 2: rank candidate models per task, with no extra LLM call.

Ranking: warm in the model runtime > fits the runtime's memory > matches the machine's profile (``cpu`` cards
first without a GPU) > catalog rank. Models whose backend or processor cannot run here (package
not installed), or whose licence is not in the allowed set (``HGBOT_LICENSES``), are left out. The planner's ``model`` choice, already checked
against the offered candidates by the validator, goes first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from . import tasks as registry
from .catalog import Catalog, ModelCard
from .types import PlanTask


class WarmthView(Protocol):
    """What the selector asks the model runtime (``orchestrator.runtime.ModelRuntime``)."""

    def is_warm(self, card: ModelCard) -> bool: ...
    def fits(self, card: ModelCard) -> bool: ...


class Selector:
    def __init__(self, catalog: Catalog, runtime: WarmthView, backend_problem: Callable[[str], str | None],
                 *, profile: str | None = None, licenses: frozenset[str] | None = None) -> None:
        """``backend_problem(name)`` is None when that backend can run here, else why not. ``profile``
        (``cpu``/``gpu``) ranks the cards sized for this machine first; ``licenses`` (lower-case licence
        ids), when given, keeps only cards under one of them."""
        self.catalog = catalog
        self.runtime = runtime
        self._backend_problem = backend_problem
        self._problems: dict[str, str | None] = {}
        self.profile = profile
        self.licenses = licenses

    def backend_problem(self, name: str) -> str | None:
        if name not in self._problems:
            self._problems[name] = self._backend_problem(name)
        return self._problems[name]

    def card_problem(self, card: ModelCard) -> str | None:
        """Why ``card`` cannot be used here (backend, processor dependency, licence), or None."""
        if self.licenses is not None and card.license.lower() not in self.licenses:
            return f"{card.id} has licence {card.license or 'unknown'}, not in HGBOT_LICENSES"
        return self.backend_problem(card.backend) or card.missing_requirements()

    def ranked(self, task: str) -> list[ModelCard]:
        usable = [c for c in self.catalog.for_task(task) if self.card_problem(c) is None]
        return sorted(usable, key=lambda c: (not self.runtime.is_warm(c), not self.runtime.fits(c),
                                             self.profile is not None and c.profile != self.profile, c.rank))

    def top_ids(self, task: str, n: int = 3) -> list[str]:
        return [c.id for c in self.ranked(task)[:n]]

    def choose(self, pt: PlanTask) -> list[ModelCard]:
        """Models to try for ``pt``, in order (the next one is the fallback when one fails)."""
        ranked = self.ranked(pt.task)
        if pt.model:
            ranked.sort(key=lambda c: c.id != pt.model)
        return ranked

    def why_none(self, task: str) -> str:
        """A sentence explaining why no model can run ``task``."""
        cards = self.catalog.for_task(task)
        if not cards:
            known = registry.get(task)
            what = f"'{task}'" if known else f"unknown task '{task}'"
            return f"No model in the catalog can run {what}. Add one to the catalog (HGBOT_CATALOG) to enable it."
        reasons = sorted({p for c in cards if (p := self.card_problem(c))})
        return f"No installed backend can run '{task}': " + "; ".join(reasons)
