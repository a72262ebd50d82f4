"""What a step reads: this message's files first, back-references, and content without framing."""

from __future__ import annotations

import pytest

from orchestrator.content import (
    about_attached,
    each_file,
    earlier_text,
    is_pronoun,
    labels,
    order_resources,
    pick_file,
    pointed_kind,
    points_back,
    question_and_passage,
    refers_back,
    speaks_a_missing_file,
    text_file,
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
    # printed things are read from a picture of them
    ("the sign, what does it say?", "image", "artifact:shot"), ("what's on the menu?", "image", "artifact:shot"),
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
    ("text-to-speech", "say it back to me", ""),  # "back to me" says where, not what
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


@pytest.mark.parametrize("text", ["detect the objects in this room photo, ignore the older one",
                                  "caption this, not the one you made", "transcribe this instead of the earlier recording"])
def test_a_ruled_out_back_reference_points_at_nothing(text: str) -> None:
    assert not refers_back(text)
    assert order_resources(text, [OLD_IMG, SIGN], ["artifact:sign"])[0] == SIGN


@pytest.mark.parametrize("text", ["segment the drawing you came up with", "caption your artwork",
                                  "detect the objects in the older picture, not the new one"])
def test_more_back_references(text: str) -> None:
    assert refers_back(text)
    assert pick_file("image", order_resources(text, [SIGN, OLD_IMG], ["artifact:sign"])) == "artifact:made"


@pytest.mark.parametrize(("text", "want"), [
    ("segment the 1st", "artifact:a"), ("caption the 2nd", "artifact:b"), ("caption the other picture, not the first",
                                                                           "artifact:b"),
    ("caption the first time you can", "artifact:a"),  # no ordinal: this message's first image
])
def test_bare_other_and_ruled_out_ordinals(text: str, want: str) -> None:
    res: list[tuple[str, Kind]] = [("artifact:a", "image"), ("artifact:b", "image")]
    assert pick_file("image", order_resources(text, res, ["artifact:a", "artifact:b"])) == want
    assert pick_file("image", order_resources("caption the second one", res, ["artifact:b", "artifact:a"])) == "artifact:b"


def test_an_older_text_file_is_read_only_when_pointed_at() -> None:
    res: list[tuple[str, Kind]] = [("artifact:notes", "text")]
    assert text_file("say good morning out loud", res, []) is None
    assert text_file("summarize the notes", res, []) == "artifact:notes"
    assert text_file("translate the file you made", res, []) == "artifact:notes"
    assert text_file("summarize this", res, ["artifact:notes"]) == "artifact:notes"


@pytest.mark.parametrize(("text", "back"), [
    ("caption the pic u made", True), ("describe the image youve made", True), ("segment ur picture", True),
    ("transcribe what u had generated before", True), ("caption the pic from b4", True),
    ("transcribe the recording from your last message", True), ("classify the photo i sent you yesterday", True),
    ("can you generate a caption for this photo?", False), ("could you create a short caption for my photo", False),
])
def test_back_references_in_chat_spelling(text: str, back: bool) -> None:
    assert refers_back(text) is back


@pytest.mark.parametrize("text", ["caption these two photos", "transcribe the two recordings", "describe both pictures"])
def test_two_files_named_together_are_each_read(text: str) -> None:
    assert each_file(text) == "attached"


def test_the_kind_pointed_at_orders_the_files_before_a_kind_the_request_makes() -> None:
    # "a poem" is what the request makes; "the picture you drew" is what it reads
    res: list[tuple[str, Kind]] = [MEMO, OLD_IMG]
    assert order_resources("write a poem about the picture you drew", res, [])[0] == OLD_IMG
    assert refers_back("how many people did you draw?")


def test_your_answer_beside_a_text_file_is_the_answer() -> None:
    res: list[tuple[str, Kind]] = [("artifact:letter", "text")]
    assert text_file("translate your answer to polish", res, ["artifact:letter"]) is None
    assert text_file("translate the letter I attached to polish", res, ["artifact:letter"]) == "artifact:letter"


@pytest.mark.parametrize(("text", "kinds", "missing"), [
    ("narrate this recording", ["image"], True), ("narrate this recording", ["audio"], False),
    ("voice over for my video: welcome to our channel", [], False), ("read 'hi' over my photo", [], False),
])
def test_speech_of_a_file_that_is_not_at_hand(text: str, kinds: list[str], missing: bool) -> None:
    assert speaks_a_missing_file(text, kinds) is missing


@pytest.mark.parametrize(("text", "back"), [
    ("do it again for this one", False), ("transcribe this recording again", False), ("segment the image again", True),
    ("caption the image above", True), ("what's said in the audio up there?", True),
])
def test_again_repeats_an_action_on_this_file_and_above_points_back(text: str, back: bool) -> None:
    assert refers_back(text) is back


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


def test_labels_after_a_question_that_ends_before_the_list() -> None:
    assert labels("what is this essay about, sports or politics?") == "sports, politics"
    assert labels("is it about headphones, shoes or a phone?") == "headphones, shoes, phone"


def test_a_preposition_between_determiner_and_noun_points_at_no_file() -> None:
    assert pointed_kind("turn that into speech") is None
    assert pointed_kind("that old photo") == "image" and pointed_kind("type up my recording") == "audio"
