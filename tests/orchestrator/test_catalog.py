from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.catalog import Catalog
from orchestrator.errors import ConfigError


def line(**kw: object) -> str:
    return json.dumps({"id": "m", "task": "summarization", "backend": "local-llm", **kw})


def test_same_model_for_several_tasks_shares_one_cache_key() -> None:
    cat = Catalog.parse("\n".join([line(task="summarization"), line(task="translation"),
                                   line(task="translation", options={"max_new_tokens": 9})]))
    a, b, c = cat.cards
    assert a.key == b.key and a.key != c.key


def test_pipelines_stay_per_task() -> None:
    cat = Catalog.parse("\n".join([line(backend="diffusers", task="text-to-image"),
                                   line(backend="diffusers", task="image-to-image")]))
    assert cat.cards[0].key != cat.cards[1].key


def test_relative_paths_resolve_next_to_the_file(tmp_path: Path) -> None:
    f = tmp_path / "cat.jsonl"
    f.write_text(line(path="models/m") + "\n# a comment\n\n")
    card = Catalog.load(f).cards[0]
    assert card.path == str(tmp_path / "models" / "m") and card.source == card.path


@pytest.mark.parametrize(("text", "needle"), [("{not json", "line 1"), (line(task="make-tea"), "unknown task"),
                                              (json.dumps({"id": "x"}), "not a valid catalog entry")])
def test_bad_lines_are_config_errors(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        Catalog.parse(text)


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file") as info:
        Catalog.load(tmp_path / "nope.jsonl")
    assert "HGBOT_CATALOG" in info.value.user_message()
