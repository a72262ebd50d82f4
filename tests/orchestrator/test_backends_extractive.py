"""Extractive summaries and answers: every sentence comes from the given text (int8 ONNX MiniLM)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.errors import InputError
from tests.orchestrator.test_backends_offline import load, texts

TEXT = ("The city council met on Tuesday to discuss the new budget. Most members supported more money for "
        "public transport. The mayor said buses will run every ten minutes from May. Some residents complained "
        "about the cost of the plan. The budget passes to a final vote next week. The weather was sunny. "
        "The council also named a new park after a local teacher. Transport spending rises by a fifth under "
        "the budget. Critics said the budget ignores housing. A final budget vote is expected on Monday.")


@pytest.fixture(scope="module")
def summarizer() -> Any:
    return load("summarization", "extractive")


def test_split_sentences_keeps_decimals_and_closing_quotes() -> None:
    from orchestrator.backends.extractive import split_sentences

    assert split_sentences("It costs $3.50 per day. Then it rises! Does it? \"Yes.\" Done") == [
        "It costs $3.50 per day.", "Then it rises!", "Does it?", "\"Yes.\"", "Done"]
    assert split_sentences("one\n\ntwo") == ["one", "two"]


def test_pick_prefers_central_sentences_in_text_order() -> None:
    import numpy as np

    from orchestrator.backends.extractive import pick

    v = np.array([[1.0, 0.0], [0.9, 0.436], [0.0, 1.0], [0.95, 0.312]])
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    assert pick(["a", "b", "c", "d"], v, 2) == [1, 3]


@pytest.mark.slow
def test_summary_is_shorter_and_made_of_the_texts_sentences(summarizer: Any) -> None:
    from orchestrator.backends.extractive import split_sentences

    (summary,) = texts(summarizer.run("summarization", {"text": TEXT}))
    picked = split_sentences(summary)
    assert 1 <= len(picked) <= 3 and len(summary.split()) < len(TEXT.split()) / 2
    assert all(s in split_sentences(TEXT) for s in picked), summary  # nothing invented
    assert "budget" in summary and "sunny" not in summary  # central, not the aside


@pytest.mark.slow
def test_a_short_text_is_its_own_summary(summarizer: Any) -> None:
    assert texts(summarizer.run("summarization", {"text": "Only one sentence here."})) == ["Only one sentence here."]


@pytest.mark.slow
def test_question_is_answered_with_the_passage_sentence_that_fits(summarizer: Any) -> None:
    qa = load("question-answering", "extractive")
    out = qa.run("question-answering", {"text": "How often will the buses run?", "context": TEXT})
    assert texts(out) == ["The mayor said buses will run every ten minutes from May."]
    with pytest.raises(InputError, match="passage"):
        qa.run("question-answering", {"text": "What is the capital of France?"})
