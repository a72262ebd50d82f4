"""Selector ranking by profile, licence filtering and processor requirements."""

from __future__ import annotations

import json

from orchestrator.catalog import Catalog, ModelCard
from orchestrator.selector import Selector
from orchestrator.types import PlanTask


class Cache:
    """What the selector asks the model runtime: which cards are warm, which fit."""

    def __init__(self, loaded: set[str] | None = None) -> None:
        self.loaded = loaded or set()

    def is_warm(self, card: ModelCard) -> bool:
        return card.id in self.loaded

    def fits(self, card: ModelCard) -> bool:
        return True


def catalog(*cards: dict[str, object]) -> Catalog:
    return Catalog.parse("\n".join(json.dumps({"task": "text-to-image", "backend": "diffusers", **c}) for c in cards))


CARDS = catalog({"id": "big", "profile": "gpu", "license": "apache-2.0"},
                {"id": "small", "profile": "cpu", "license": "sai-nc-community"},
                {"id": "mid", "profile": "cpu", "license": "openrail"})


def ids(sel: Selector) -> list[str]:
    return [c.id for c in sel.ranked("text-to-image")]


def test_catalog_rank_without_a_profile() -> None:
    assert ids(Selector(CARDS, Cache(), lambda b: None)) == ["big", "small", "mid"]


def test_cpu_profile_ranks_small_models_first() -> None:
    assert ids(Selector(CARDS, Cache(), lambda b: None, profile="cpu")) == ["small", "mid", "big"]
    assert ids(Selector(CARDS, Cache(), lambda b: None, profile="gpu")) == ["big", "small", "mid"]


def test_a_loaded_model_still_goes_first() -> None:
    assert ids(Selector(CARDS, Cache({"big"}), lambda b: None, profile="cpu"))[0] == "big"


def test_licence_filter_leaves_out_other_licences_and_says_why() -> None:
    sel = Selector(CARDS, Cache(), lambda b: None, licenses=frozenset({"apache-2.0", "openrail"}))
    assert ids(sel) == ["big", "mid"]
    only_nc = Selector(catalog({"id": "nc", "license": "sai-nc-community"}), Cache(), lambda b: None,
                       licenses=frozenset({"mit"}))
    assert only_nc.ranked("text-to-image") == []
    assert "not in HGBOT_LICENSES" in only_nc.why_none("text-to-image")


def test_missing_processor_dependency_leaves_the_card_out() -> None:
    cat = catalog({"id": "needs", "requires": ["no_such_module_hgbot"]}, {"id": "plain"})
    sel = Selector(cat, Cache(), lambda b: None)
    assert ids(sel) == ["plain"]
    assert [c.id for c in sel.choose(PlanTask(1, "text-to-image", (), {}, "needs"))] == ["plain"]
