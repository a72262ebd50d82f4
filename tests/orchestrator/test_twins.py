"""The tiny-twin check: each hub card's code path on a random-weight model of its architecture."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.catalog import Catalog, ModelCard
from orchestrator.twins import FAIL, OK, SKIP, check_cards, needs_twin, tiny_card

HUB = Catalog.load()


def card(model_id: str, task: str | None = None) -> ModelCard:
    found = HUB.get(model_id, task)
    assert found is not None
    return found


def test_a_card_without_a_twin_fails(tmp_path: Path) -> None:
    odd = ModelCard(id="someone/new-arch", task="text-classification", backend="transformers", arch="NewArchModel")
    unnamed = replace(odd, arch="")
    verdicts = check_cards([odd, unnamed], tmp_path)
    assert [v.status for v in verdicts] == [FAIL, FAIL]
    assert "no twin for architecture NewArchModel" in verdicts[0].detail
    assert "(none given)" in verdicts[1].detail


def test_a_card_whose_processor_needs_a_missing_module_is_skipped_with_the_reason(tmp_path: Path) -> None:
    needy = replace(card("google/vit-base-patch16-224"), requires=("no_such_module_hgbot",))
    [verdict] = check_cards([needy], tmp_path)
    assert verdict.status == SKIP and "no_such_module_hgbot" in verdict.detail


def test_packaged_and_local_cards_need_no_twin() -> None:
    assert not needs_twin(card("rapidocr/PP-OCRv6-small"))
    assert not needs_twin(replace(card("dslim/bert-base-NER"), path="/models/ner"))
    assert needs_twin(card("dslim/bert-base-NER"))


def test_tiny_card_keeps_the_path_and_shrinks_the_run(tmp_path: Path) -> None:
    cn = tiny_card(card("Lykon/dreamshaper-8", "seg-text-to-image"), tmp_path)
    assert cn.path == str(tmp_path) and cn.options["controlnet"] == str(tmp_path / "controlnet")
    assert cn.options["steps"] == 2 and cn.options["height"] == 32
    llm = tiny_card(card("Qwen/Qwen3-4B-Instruct-2507", "summarization"), tmp_path)
    assert llm.options["max_new_tokens"] == 4 and llm.options["pipeline"] == "text-generation"
    assert llm.dtype == "bfloat16"  # the card's own loading fields stay


def test_twins_are_shared_by_cards_of_one_architecture(tmp_path: Path) -> None:
    cards = [card("dslim/bert-base-NER"), card("Davlan/bert-base-multilingual-cased-ner-hrl")]
    verdicts = check_cards(cards, tmp_path)
    assert [v.status for v in verdicts] == [OK, OK], [v.line() for v in verdicts]
    assert len({v.twin for v in verdicts}) == 1
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["BertForTokenClassification"]


@pytest.mark.slow
def test_models_check_tiny_passes_for_the_whole_hub_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    """``hgbot models check --tiny``: one line per hub card, exit 0 when none failed (about 70 s here)."""
    from bot.cli import main

    code = main(["models", "check", "--tiny"])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.split() and "/" in line.split()[0]]
    hub_cards = [c for c in HUB.cards if needs_twin(c)]
    assert len(lines) == len(hub_cards)
    assert code == 0, out
    for line in lines:
        status = line.split()[3]
        # only Qwen3-VL's processor may still need torchvision (its video processor)
        assert status == OK or (status == SKIP and "needs torchvision" in line and "Qwen3-VL" in line), line
    assert "0 failed" in out.splitlines()[-1]


def test_check_real_runs_the_weights_it_is_given(tmp_path: Path) -> None:
    """``hgbot models check`` on a pulled model: here a local copy stands in for the hub cache."""
    from orchestrator.twin_builders import build_twin
    from orchestrator.twins import check_real

    detector = card("PekingU/rtdetr_v2_r18vd")
    local = replace(detector, path=str(build_twin(detector.arch, tmp_path / "rtdetr")))
    [verdict] = check_real([local], tmp_path)
    assert verdict.status == OK and verdict.twin == "(real weights)", verdict.line()
    assert verdict.detail.startswith("png ")  # the boxes drawn on the image, decoded
