"""What a step reads: this message's files first, back-references, and content without framing."""

from __future__ import annotations

import pytest

from orchestrator.content import (
    about_attached,
    earlier_text,
    is_pronoun,
    labels,
    order_resources,
    pick_file,
    points_back,
    question_and_passage,
    refers_back,
)
from orchestrator.router import Lexicon
from orchestrator.types import Kind

MEMO: tuple[str, Kind] = ("artifact:memo", "audio")
OLD_IMG: tuple[str, Kind] = ("artifact:made", "image")
SIGN: tuple[str, Kind] = ("artifact:sign", "image")


def test_this_messages_files_come_first() -> None:
    # newest first as the store lists them, but the attachment of this message leads
    assert order_resources("what does this sign say?", [OLD_IMG, SIGN], ["artifact:sign"])[0] == SIGN
    assert pick_file("image", order_resources("caption this", [OLD_IMG, SIGN], ["artifact:sign"])) == "artifact:sign"


@pytest.mark.parametrize("text", ["now caption the image you just made", "describe that picture", "transcribe the earlier "
                                  "recording again", "segment the generated image", "transcribe the speech you synthesized",
                                  "describe the original photo", "caption the photo i uploaded before",
                                  "descibe the pictrue you maked"])
def test_a_back_reference_puts_older_files_first(text: str) -> None:
    assert refers_back(text)
    assert order_resources(text, [SIGN, OLD_IMG], ["artifact:sign"])[0] == OLD_IMG


@pytest.mark.parametrize(("text", "want"), [
    ("describe the second picture", "artifact:b"), ("caption the first one", "artifact:a"),
    ("what's in the last photo?", "artifact:b"), ("caption these", "artifact:a"),
])
def test_an_ordinal_picks_among_this_messages_files(text: str, want: str) -> None:
    res: list[tuple[str, Kind]] = [("artifact:a", "image"), MEMO, ("artifact:b", "image"), OLD_IMG]
    attached = ["artifact:a", "artifact:memo", "artifact:b"]
    assert pick_file("image", order_resources(text, res, attached)) == want


def test_an_older_file_is_used_when_nothing_of_the_kind_is_attached() -> None:
    ordered = order_resources("transcribe this", [SIGN, MEMO], ["artifact:sign"])
    assert pick_file("audio", ordered) == "artifact:memo"
    assert not refers_back("transcribe the new recording")
    assert not refers_back("transcribe this before you translate it")


@pytest.mark.parametrize(("text", "kind", "want"), [
    ("describe the screenshot", "image", "artifact:shot"), ("what does the chart show?", "image", "artifact:shot"),
    ("transcribe the call recording", "audio", "artifact:memo"), ("give me the gist of the notes", "text", "artifact:notes"),
    ("what's in the figure?", "image", "artifact:shot"), ("are the lyrics sad or happy?", "text", "artifact:notes"),
])
def test_a_kind_noun_puts_files_of_that_kind_first(text: str, kind: Kind, want: str) -> None:
    # this message brings a memo, a text file and a screenshot; the noun says which one is meant
    res: list[tuple[str, Kind]] = [MEMO, ("artifact:notes", "text"), ("artifact:shot", "image")]
    ordered = order_resources(text, res, [h for h, _ in res])
    assert ordered[0] == (want, kind)
    assert order_resources("caption this", res, [h for h, _ in res])[0] == MEMO  # no noun: order kept


def test_a_video_stands_in_for_audio_never_the_reverse() -> None:
    assert pick_file("audio", [("artifact:v", "video"), MEMO]) == "artifact:v"
    assert pick_file("video", [MEMO]) is None


@pytest.mark.parametrize(("task", "text", "want"), [
    ("text-to-speech", "say hello world out loud", "hello world"),
    ("text-to-speech", "please say good night everyone in a calm voice", "good night everyone"),
    ("text-to-speech", "make an audio clip saying welcome to the team", "welcome to the team"),
    ("text-to-speech", "now say it out loud", ""),  # a pronoun: the previous answer
    ("text-to-speech", "read your last answer aloud", ""),
    ("text-to-image", "Make me a picture of a red car on a road, please.", "a red car on a road"),
    ("text-to-image", "draw a fox reading a book under a tree", "a fox reading a book under a tree"),
    ("translation", "translate good morning my friend into Spanish", "good morning my friend"),
    ("translation", "how do you say where is the station in German?", "where is the station"),
    ("text-to-video", "make a video of a dog running on the beach", "a dog running on the beach"),
    # the payload convention (bench/RESULTS.md): style and medium words are prompt, a bare "picture of" is not
    ("text-to-image", "could you make a watercolor of a fox in the snow", "a watercolor of a fox in the snow"),
    ("text-to-image", "make a poster showing a jazz night in the park", "a poster showing a jazz night in the park"),
    ("text-to-image", "generate a realistic photo of a sailboat", "a realistic photo of a sailboat"),
    ("text-to-image", "give me a quick picture of a teapot", "a teapot"),
    # a dash or an arrow separates framing from content like a colon; emoji after the content are tone
    ("text-to-speech", "would you be so kind as to speak this aloud - the shop opens at 8", "the shop opens at 8"),
    ("translation", "I need this in french -> my flight was cancelled", "my flight was cancelled"),
    ("text-to-image", "pic of 2 dogs playing in snow pls \U0001f436", "2 dogs playing in snow"),
    ("text-to-speech", "I want to hear the sentence the cake is in the oven", "the cake is in the oven"),
    ("text-to-speech", "a well-known line - say it", ""),
    ("text-to-speech", "announce that the store will close in ten minutes", "the store will close in ten minutes"),
    ("text-to-speech", "could you say that out loud?", ""),  # "well-known" is no separator; "it" is a pronoun
])
def test_framing_is_stripped(task: str, text: str, want: str) -> None:
    assert Lexicon.packaged().framing.content(task, text) == want


def test_question_and_passage() -> None:
    assert question_and_passage("Based on this text: 'The tower was finished in 1889.' When was it finished?") == (
        "When was it finished", "The tower was finished in 1889")
    assert question_and_passage("passage: 'Curie won two prizes.' question: 'which ones?'") == (
        "which ones", "Curie won two prizes")
    assert question_and_passage("no quote here") is None


@pytest.mark.parametrize(("text", "want"), [
    ("is 'the striker scored twice' about sports, politics or business?", "sports, politics, business"),
    ("put 'the soup needs salt' into one of these categories: food, travel, tech", "food, travel, tech"),
    ("is the message 'server down!!' urgent or not urgent?", "urgent, not urgent"),
    ("pick one label (sports / music / politics) for 'the band is touring'", "sports, music, politics"),
    ("label this message as spam, personal or work: 'lunch at 1?'", "spam, personal, work"),
    ("would 'the screen cracked' be hardware, software or shipping?", "hardware, software, shipping"),
])
def test_zero_shot_labels(text: str, want: str) -> None:
    assert labels(text) == want


@pytest.mark.parametrize(("span", "attached", "back"), [
    ("this out", True, False), ("it", True, False), ("this sign", True, False), ("the text", True, False),
    ("what this says", True, False), ("it back", True, False),
    ("that first note", True, True), ("what you read", True, True), ("the transcript", True, True),
    ("the first one", True, True),
    ("hello world", False, False), ("a red car", False, False)])
def test_what_the_framing_leaves_is_the_attached_file_or_an_earlier_text(span: str, attached: bool, back: bool) -> None:
    """Issue 13: "read this out" speaks this message's picture; "that first note" an earlier text."""
    assert about_attached(span) is (attached and not back)
    assert points_back(span) is back
    if back:
        assert is_pronoun(span)  # no words of its own: the step reads the earlier text


def test_earlier_text_follows_the_ordinal_and_the_plural() -> None:
    texts = ["Milk eggs bread", "NO PARKING"]
    assert earlier_text("turn that first note into speech please", texts) == "Milk eggs bread"
    assert earlier_text("read the second one out loud", texts) == "NO PARKING"
    assert earlier_text("say the last note", texts) == "NO PARKING"
    assert earlier_text("now say it out loud", texts) == "NO PARKING"  # "it": the newest text
    assert earlier_text("read them both out loud", texts) == "Milk eggs bread\nNO PARKING"
    assert earlier_text("read the third note", texts) is None and earlier_text("say it", []) is None


@pytest.mark.parametrize("text", ["turn that first note into speech please", "say the transcript out loud",
                                  "read what you read out loud", "read me the first one", "speak that text",
                                  "read them both out loud", "read both of them out", "say what you transcribed out loud"])
def test_a_reference_back_is_no_content_of_its_own(text: str) -> None:
    assert Lexicon.packaged().framing.content("text-to-speech", text) == ""
