"""The backend registry: built-ins, entry-point plugins, per-registry registration, declarations."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest

from orchestrator import backends as backends_module
from orchestrator.backends import (
    BUILTINS,
    BackendRegistry,
    declared_tasks,
    default_registry,
    installed,
    loads_per_task,
)
from orchestrator.catalog import TASK_SPECIFIC_BACKENDS, Catalog
from orchestrator.errors import BackendUnavailable
from tests.fakes.backends import FakeBackend


class PluginBackend:
    name = "plugin"
    tasks = frozenset({"text-classification"})
    per_task = False

    def available(self) -> str | None:
        return None

    def load(self, card: Any, device: Any) -> Any:
        raise NotImplementedError


def test_builtins_load_lazily_and_unknown_names_say_what_is_known() -> None:
    registry = BackendRegistry.builtin()
    assert registry.names() == sorted(BUILTINS)
    assert registry.get("vader") is registry.get("vader")  # one instance per registry
    with pytest.raises(BackendUnavailable, match="known: .*vader"):
        registry.get("nope")
    assert "No backend called 'nope'" in (registry.problem("nope") or "")


def test_entry_point_plugins_join_the_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [EntryPoint("plugin", f"{__name__}:PluginBackend", "hgbot.backends"),
           EntryPoint("broken", "no_such_module_anywhere:Thing", "hgbot.backends")]
    monkeypatch.setattr(backends_module, "entry_points",
                        lambda group: eps if group == "hgbot.backends" else [])
    registry = BackendRegistry.default()
    assert isinstance(registry.get("plugin"), PluginBackend)
    assert "plugin" in registry.serving("text-classification") and "vader" in registry.serving("text-classification")
    assert "plugin cannot be loaded" in (registry.problem("broken") or "")  # and the others still work
    assert registry.problem("plugin") is None


def test_register_is_per_registry_and_installed_restores_the_default() -> None:
    before = default_registry()
    mine = BackendRegistry.builtin()
    with installed(mine):
        mine.register("fake", FakeBackend())
        assert default_registry() is mine and default_registry().problem("fake") is None
    assert default_registry() is before
    assert "No backend called 'fake'" in (before.problem("fake") or "")


def test_declarations_match_what_the_catalog_asks_of_each_backend() -> None:
    registry = BackendRegistry.builtin()
    per_task = {name for name in BUILTINS if loads_per_task(registry.get(name))}
    assert per_task == set(TASK_SPECIFIC_BACKENDS)  # the cache key and the backends agree
    for offline in (True, False):
        for card in Catalog.load(offline_default=offline).cards:
            declared = declared_tasks(registry.get(card.backend))
            assert not declared or card.task in declared, (card.backend, card.task)
