"""The answers hgbot gives about itself, built from data (no model)."""

from __future__ import annotations

import pytest

from orchestrator import capabilities
from orchestrator import tasks as registry


@pytest.mark.parametrize("text", ["hello, what can you do?", "What else can you do", "what are your features?",
                                  "how can you help", "/help", "Help!", "list your capabilities"])
def test_capability_questions_are_recognised(text: str) -> None:
    assert capabilities.is_capability_question(text)


@pytest.mark.parametrize("text", ["hello", "help me translate this", "what is in this picture?", "say hello world"])
def test_requests_are_not_capability_questions(text: str) -> None:
    assert not capabilities.is_capability_question(text)


def test_a_bare_greeting_counts_only_when_asked_to() -> None:
    assert not capabilities.is_capability_question("hello")
    assert capabilities.is_capability_question("Hello there!", greetings=True)
    assert not capabilities.is_capability_question("hello, transcribe this", greetings=True)


def test_every_registered_task_has_an_example_request() -> None:
    import orchestrator.prompts as prompts

    examples = prompts.load("capabilities")["examples"]
    plain = [t for t in registry.TASKS if "control" not in t and not t.endswith("-text-to-image")]
    assert [t for t in plain if t not in examples] == []


def test_capability_answer_follows_the_registry_order_and_says_how_to_get_chat() -> None:
    text = capabilities.capability_answer({"text-to-speech": "", "image-to-text": "Reads printed text."}, None)
    assert text.index("**image-to-text**: Reads printed text.") < text.index("**text-to-speech**: Read a text aloud")
    assert "(2 tasks)" in text and "HGBOT_LOCAL_LLM" in text and "OPENAI_BASE_URL" in text
    assert "“say \"the meeting starts at ten\" out loud”" in text
    with_chat = capabilities.capability_answer({"image-to-text": ""}, "qwen @ http://gpu:8000/v1")
    assert "qwen @ http://gpu:8000/v1" in with_chat and "HGBOT_LOCAL_LLM" not in with_chat


def test_unrunnable_line_is_one_line_with_what_would_enable_it() -> None:
    line = capabilities.unrunnable_line("translation", lambda task: ["Helsinki-NLP/opus-mt-en-fr"])
    assert "\n" not in line and line.startswith("translation can't run here")
    assert "OPENAI_BASE_URL" in line and "`hgbot models pull Helsinki-NLP/opus-mt-en-fr`" in line
    assert "catalog entry" in line
    with_endpoint = capabilities.unrunnable_line("translation", lambda task: [], has_endpoint=True)
    assert "OPENAI_BASE_URL" not in with_endpoint and "models pull" not in with_endpoint


def test_substitutes_follow_the_request_and_what_runs_here() -> None:
    everything = {"object-detection", "image-to-text", "image-classification"}
    pick = capabilities.substitute
    assert pick("visual-question-answering", "How many people are there?", everything.__contains__)[0] == "object-detection"
    assert pick("visual-question-answering", "what is written on the sign", everything.__contains__)[0] == "image-to-text"
    # image-to-text (OCR or a captioner) before the classifier: "what's the soup today?" on a menu
    assert pick("visual-question-answering", "is it sunny?", everything.__contains__)[0] == "image-to-text"
    no_text = {"object-detection", "image-classification"}.__contains__
    assert pick("visual-question-answering", "is it sunny?", no_text)[0] == "image-classification"
    only_ocr = {"image-to-text"}.__contains__
    assert pick("visual-question-answering", "how many people?", only_ocr)[0] == "image-to-text"
    assert pick("document-question-answering", "what is the total?", only_ocr)[0] == "image-to-text"
    assert pick("translation", "translate this", everything.__contains__) is None
    assert pick("visual-question-answering", "how many people?", set().__contains__) is None


def test_a_narrow_model_is_swapped_only_for_requests_beyond_what_it_covers() -> None:
    runs_here = {"image-classification"}.__contains__
    assert capabilities.narrow_substitute("faces", "what objects are in this photo?", runs_here) == (
        "image-classification",
        "No general object detector runs here (the detector here finds faces only), so here is what the image "
        "classifier sees instead.")
    assert capabilities.narrow_substitute("faces", "how many people are there", runs_here) is None
    assert capabilities.narrow_substitute("faces", "what objects are there?", lambda task: False) is None
    assert capabilities.narrow_substitute("unknown-scope", "what objects are there?", runs_here) is None


def test_round_28_substitutes() -> None:
    everything = {"object-detection", "image-to-text", "image-classification"}.__contains__
    pick = capabilities.substitute
    # a chat spelling of people is a people count: the face detector, not ImageNet classes
    assert pick("visual-question-answering", "how many ppl are in this photo?", everything)[0] == "object-detection"
    assert capabilities.narrow_substitute("faces", "how many ppl are there", everything) is None
    # "what did you say …" is no question about text in the picture: the generic note, which claims no OCR
    said = pick("visual-question-answering", "what did you say the animal was?", everything)
    sign = pick("visual-question-answering", "what does the sign say?", everything)
    assert said is not None and sign is not None and said[0] == sign[0] == "image-to-text" and said[1] != sign[1]
    assert "OCR" not in sign[1]  # image-to-text may answer with classes when the picture has no text
