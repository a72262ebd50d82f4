"""The embedded planner: steps in reading order, links by type, args wired, plans always valid."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchestrator.embedded_planner import EmbeddedPlanner
from orchestrator.evaluation import load_taskbench
from orchestrator.router import TaskRouter
from orchestrator.types import Kind
from orchestrator.validate import validate_plan
from tests.fakes.embedder import WordEmbedder

# shared/ lies beside the checkout (developers and CI alike)
SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "taskbench" / "labelled_sample.jsonl"




@pytest.fixture(scope="module")
def planner() -> EmbeddedPlanner:
    return EmbeddedPlanner(TaskRouter(WordEmbedder()))


def _check(raw: dict[str, Any], resources: Sequence[tuple[str, Kind]] = (), literal: bool = False) -> list[dict[str, Any]]:
    validate_plan(raw, handles=dict(resources), source="embedded", allow_literal_files=literal)
    return list(raw["tasks"])


def test_chain_links_outputs_to_inputs(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:a1", "audio")]
    tasks = _check(planner.plan("Transcribe this recording and then translate it into French.", res), res)
    assert [t["task"] for t in tasks] == ["automatic-speech-recognition", "translation"]
    assert tasks[0]["args"] == {"audio": "artifact:a1"} and tasks[0]["deps"] == []
    assert tasks[1]["args"] == {"text": "<GENERATED>-1", "context": "French"}
    assert tasks[1]["deps"] == [1]


def test_image_chain_and_fan_out(planner: EmbeddedPlanner) -> None:
    text = "Generate an image of a red car, then estimate its depth and detect the objects in it."
    tasks = _check(planner.plan(text, []))
    assert [t["task"] for t in tasks] == ["text-to-image", "depth-estimation", "object-detection"]
    assert tasks[0]["args"] == {"text": "a red car"}  # the picture's content, not the whole request
    # A chain: each image consumer takes the nearest earlier image.
    assert tasks[1]["deps"] == [1] and tasks[2]["deps"] == [2]
    # "also" makes a parallel step: detection reads the generated image, not the depth map.
    tasks = _check(planner.plan(text.replace("and detect", "and also detect"), []))
    assert tasks[1]["deps"] == [1] and tasks[2]["deps"] == [1]


def test_question_about_an_attached_image(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:new", "image"), ("artifact:old", "image")]
    tasks = _check(planner.plan("Answer this question about the photo: 'How many dogs are there?'", res), res)
    assert tasks == [{"id": 1, "task": "visual-question-answering", "deps": [],
                      "args": {"image": "artifact:new", "text": "How many dogs are there?"}}]


def test_question_answering_takes_the_passage_from_the_earlier_step(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:talk", "audio")]
    tasks = _check(planner.plan("Transcribe the lecture, then answer 'Who spoke first?'", res), res)
    assert [t["task"] for t in tasks] == ["automatic-speech-recognition", "question-answering"]
    assert tasks[1]["args"] == {"text": "Who spoke first?", "context": "<GENERATED>-1"}


def test_edit_uses_the_preceding_text_as_instruction(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:img", "image")]
    tasks = _check(planner.plan("Summarize 'A long story about a red balloon.' and edit the image to match the summary", res), res)
    assert [t["task"] for t in tasks] == ["summarization", "image-to-image"]
    assert tasks[1]["args"] == {"image": "artifact:img", "text": "<GENERATED>-1"}
    assert tasks[1]["deps"] == [1]


def test_small_talk_is_just_chat(planner: EmbeddedPlanner) -> None:
    assert planner.plan("hi! how's it going?", []) == {"tasks": []}


def test_missing_file_drops_the_step_unless_literal_files_allowed(planner: EmbeddedPlanner) -> None:
    text = "Please classify the image 'cat.jpg' and translate the label to German."
    tasks = _check(planner.plan(text, []))
    assert [t["task"] for t in tasks] == ["translation"]  # no image at hand: classification dropped
    tasks = _check(planner.plan(text, [], allow_literal_files=True), literal=True)
    assert [t["task"] for t in tasks] == ["image-classification", "translation"]
    assert tasks[0]["args"] == {"image": "cat.jpg"}
    assert tasks[1]["args"]["text"] == "<GENERATED>-1" and tasks[1]["deps"] == [1]


def test_repeated_task_is_planned_once(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:img", "image")]
    text = "Edit the image to add a hat. After editing the image, segment the edited image."
    tasks = _check(planner.plan(text, res), res)
    assert [t["task"] for t in tasks] == ["image-to-image", "image-segmentation"]
    assert tasks[1]["args"]["image"] == "<GENERATED>-1"


@pytest.mark.skipif(not SAMPLE.exists(), reason="TaskBench sample not available")
def test_every_taskbench_plan_validates(planner: EmbeddedPlanner) -> None:
    for rec in load_taskbench(SAMPLE):
        raw = planner.plan(rec.request, [], allow_literal_files=True)
        plan = validate_plan(raw, handles={}, source="embedded", allow_literal_files=True)
        for t in plan.tasks:  # deps are exactly the <GENERATED>-k references
            refs = {int(v.split("-")[-1]) for v in t.wire_args().values() if v.startswith("<GENERATED>-")}
            assert set(t.deps) == refs
        # Without literal files every file-input step is dropped, and what is left still validates.
        validate_plan(planner.plan(rec.request, []), handles={}, source="embedded")


def test_text_step_on_unused_audio_gets_a_transcript_first(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:memo", "audio")]
    tasks = _check(planner.plan("Summarize the main points of my voice memo.", res), res)
    assert [t["task"] for t in tasks] == ["automatic-speech-recognition", "summarization"]
    assert tasks[0]["args"] == {"audio": "artifact:memo"}
    assert tasks[1]["args"] == {"text": "<GENERATED>-1"} and tasks[1]["deps"] == [1]
    # With the text to work on quoted, nothing is transcribed.
    tasks = _check(planner.plan("Summarize 'A very long story.'", res), res)
    assert [t["task"] for t in tasks] == ["summarization"]


def test_unquoted_payload_after_a_colon_is_the_text(planner: EmbeddedPlanner) -> None:
    tasks = _check(planner.plan("Translate this into Spanish: where is the station?", []))
    assert tasks == [{"id": 1, "task": "translation", "deps": [],
                      "args": {"text": "where is the station?", "context": "Spanish"}}]


def test_a_bare_greeting_is_chat_even_when_it_resembles_a_task() -> None:
    planner = EmbeddedPlanner(TaskRouter(_GreetingEmbedder()))
    assert planner.plan("hello", []) == {"tasks": []}


class _GreetingEmbedder:
    """Every text is maximally similar to every task: only the word-count rule can say 'chat'."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.ones((len(texts), 4), dtype=np.float32) / 2.0


def test_a_parallel_step_with_its_own_quote_reads_the_quote(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:i", "image")]
    tasks = _check(planner.plan("read the text in this image, and also say 'good morning team' out loud", res), res)
    assert [t["task"] for t in tasks] == ["image-to-text", "text-to-speech"]
    assert tasks[1]["args"]["text"] == "good morning team" and tasks[1]["deps"] == []


@pytest.mark.parametrize(("kind", "task"), [("image", "image-to-text"), ("audio", "automatic-speech-recognition")])
def test_what_does_it_say_follows_the_file_at_hand(planner: EmbeddedPlanner, kind: Kind, task: str) -> None:
    res: list[tuple[str, Kind]] = [("artifact:f", kind)]
    assert [t["task"] for t in _check(planner.plan("what does the sign say?", res), res)] == [task]


def test_a_request_that_brings_its_text_does_not_transcribe_an_old_recording(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:old", "audio")]
    tasks = _check(planner.plan("classify the sentiment of: the food was awful and the waiter was rude", res), res)
    assert [t["task"] for t in tasks] == ["text-classification"]
    assert tasks[0]["args"]["text"] == "the food was awful and the waiter was rude"


def test_an_image_question_never_transcribes_an_older_recording(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:memo", "audio"), ("artifact:sign", "image")]
    tasks = _check(planner.plan("what does this sign say?", res, attached=["artifact:sign"]), res)
    assert tasks == [{"id": 1, "task": "image-to-text", "deps": [], "args": {"image": "artifact:sign"}}]


def test_read_it_out_loud_is_ocr_then_speech(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:img", "image")]
    tasks = _check(planner.plan("read the text in this image out loud", res, attached=["artifact:img"]), res)
    assert [t["task"] for t in tasks] == ["image-to-text", "text-to-speech"]
    assert tasks[1]["args"] == {"text": "<GENERATED>-1"}


def test_a_producer_named_after_its_consumer_runs_first(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:img", "image")]
    tasks = _check(planner.plan("an audio file describing what is in the image", res, attached=["artifact:img"]), res)
    assert [t["task"] for t in tasks] == ["image-to-text", "text-to-speech"] and tasks[1]["deps"] == [1]


def test_say_it_out_loud_reads_the_previous_answer(planner: EmbeddedPlanner) -> None:
    tasks = _check(planner.plan("now say it out loud", [], previous_text="Closed on Sundays."))
    assert tasks == [{"id": 1, "task": "text-to-speech", "deps": [], "args": {"text": "Closed on Sundays."}}]
    assert planner.plan("now say it out loud", []) == {"tasks": []}  # nothing said before: nothing to speak


@pytest.mark.parametrize(("text", "tasks", "prompt"), [
    ("draw a ballerina in the pose from this photo", ["openpose-text-to-image"], "a ballerina"),
    ("turn my scribble into a realistic red house with a garden", ["scribble-text-to-image"],
     "a realistic red house with a garden"),
    ("extract the pose from this photo, then generate a superhero in that pose",
     ["openpose-control", "openpose-text-to-image"], "a superhero"),  # the pose map carries "that pose"
    ("make a robot doing this pose", ["openpose-text-to-image"], "a robot"),
    ("turn my doodle into a photo of a red sports car", ["scribble-text-to-image"], "a red sports car"),
    ("detect the edges in this image", ["canny-control"], None),
])
def test_controlnet_requests(planner: EmbeddedPlanner, text: str, tasks: list[str], prompt: str | None) -> None:
    res: list[tuple[str, Kind]] = [("artifact:img", "image")]
    got = _check(planner.plan(text, res, attached=["artifact:img"]), res)
    assert [t["task"] for t in got] == tasks
    if prompt is not None:
        assert got[-1]["args"]["text"] == prompt


def test_text_tasks_get_their_passage_labels_and_attached_text(planner: EmbeddedPlanner) -> None:
    tasks = _check(planner.plan("is 'the striker scored twice' about sports, politics or business?", []))
    assert tasks[0]["task"] == "zero-shot-classification"
    assert tasks[0]["args"] == {"text": "the striker scored twice", "context": "sports, politics, business"}
    res: list[tuple[str, Kind]] = [("artifact:doc", "text")]
    tasks = _check(planner.plan("give me the main points of this article", res, attached=["artifact:doc"]), res)
    assert tasks == [{"id": 1, "task": "summarization", "deps": [], "args": {"text": "artifact:doc"}}]


def test_unrunnable_tasks_are_named_not_dropped(planner: EmbeddedPlanner) -> None:
    raw = planner.plan("translate 'good morning' into French", [], runnable={"image-to-text"})
    assert raw["unrunnable"] == ["translation"]
    assert "unrunnable" not in planner.plan("translate 'good morning' into French", [], runnable={"translation"})


@pytest.mark.parametrize(("text", "task"), [
    ("pls say good luck tomorrow", "text-to-speech"),  # "say" as the verb, after polite framing
    ("hey can u say 'drink more water'", "text-to-speech"),
    ("could you kindly find the people and places in 'Maria flew from Lisbon to Oslo'", "token-classification"),
    ("are 'I lost my wallet' and 'my wallet is gone' saying the same thing?", "sentence-similarity"),
    ("label this message as spam, personal or work: 'lunch at 1?'", "zero-shot-classification"),
    ("is 'what a fantastic little cafe' positive or negative?", "text-classification"),  # sentiment, not labels
    ("which of these fits 'my card was charged twice': billing, login, delivery", "zero-shot-classification"),
    ("sum up this paragraph - Sales rose in spring. Staff costs stayed flat.", "summarization"),
    ("what are the names in this sentence: Priya and Tom visited Kyoto", "token-classification"),
])
def test_request_verbs_after_polite_framing(planner: EmbeddedPlanner, text: str, task: str) -> None:
    assert [t["task"] for t in _check(planner.plan(text, []))] == [task]


def test_say_hi_stays_small_talk(planner: EmbeddedPlanner) -> None:
    assert planner.plan("can you say hi", [])["tasks"] == []


def test_the_language_of_a_recording_is_audio_classification(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:memo", "audio")]
    tasks = _check(planner.plan("what language is my recording in?", res), res)
    assert [t["task"] for t in tasks] == ["audio-classification"]


def test_subtitles_for_a_video_transcribe_it_first(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:talk", "video")]
    tasks = _check(planner.plan("french subtitles for this video please", res, attached=["artifact:talk"]), res)
    assert [t["task"] for t in tasks] == ["automatic-speech-recognition", "translation"]
    assert tasks[0]["args"] == {"audio": "artifact:talk"} and tasks[1]["args"]["text"] == "<GENERATED>-1"


@pytest.mark.parametrize(("text", "kind", "tasks"), [
    ("say out loud what this sign says", "image", ["image-to-text", "text-to-speech"]),
    ("make a voice clip describing this photo", "image", ["image-to-text", "text-to-speech"]),
    ("sorry, long voice message - can u write it down for me?", "audio", ["automatic-speech-recognition"]),
    ("what's the mood of the voice in this clip?", "audio", ["audio-classification"]),
])
def test_the_file_step_and_what_the_request_makes_of_it(planner: EmbeddedPlanner, text: str, kind: Kind,
                                                         tasks: list[str]) -> None:
    res: list[tuple[str, Kind]] = [("artifact:f", kind)]
    assert [t["task"] for t in _check(planner.plan(text, res, attached=["artifact:f"]), res)] == tasks


@pytest.mark.parametrize(("text", "kind"), [("transcribe both recordings", "audio"), ("caption each of these photos", "image")])
def test_both_files_get_a_step_each(planner: EmbeddedPlanner, text: str, kind: Kind) -> None:
    res: list[tuple[str, Kind]] = [("artifact:a", kind), ("artifact:b", kind), ("artifact:old", kind)]
    tasks = _check(planner.plan(text, res, attached=["artifact:a", "artifact:b"]), res)
    assert sorted(v for t in tasks for v in t["args"].values()) == ["artifact:a", "artifact:b"]  # not the old one
    assert len({t["task"] for t in tasks}) == 1 and all(not t["deps"] for t in tasks)


def test_a_video_is_classified_by_its_sound(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:v", "video")]
    tasks = _check(planner.plan("what kind of music is playing in this video?", res, attached=["artifact:v"]), res)
    assert tasks == [{"id": 1, "task": "audio-classification", "deps": [], "args": {"audio": "artifact:v"}}]


def test_a_text_task_on_an_attached_photo_reads_its_text_first(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:sign", "image")]
    tasks = _check(planner.plan("translate this into german", res, attached=["artifact:sign"]), res)
    assert [t["task"] for t in tasks] == ["image-to-text", "translation"] and tasks[1]["deps"] == [1]
    tasks = _check(planner.plan("translate 'hola' into english", res, attached=["artifact:sign"]), res)
    assert [t["task"] for t in tasks] == ["translation"]  # it brings its own text


def test_this_one_and_the_earlier_one_reads_both(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:new", "audio"), ("artifact:old", "audio")]
    tasks = _check(planner.plan("transcribe this one and the earlier recording too", res, attached=["artifact:new"]), res)
    assert sorted(t["args"]["audio"] for t in tasks) == ["artifact:new", "artifact:old"]


def test_a_question_about_it_after_a_picture_asks_about_the_picture(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:made", "image")]
    tasks = _check(planner.plan("is it a dog?", res), res)
    assert tasks == [{"id": 1, "task": "visual-question-answering", "deps": [],
                      "args": {"image": "artifact:made", "text": "is it a dog?"}}]
    assert planner.plan("is it a dog?", [])["tasks"] == []  # nothing to look at: chat


@pytest.mark.parametrize(("text", "want"), [
    ("that pic you drew - is there a dog in it?", "artifact:made"),
    ("type up my recording from earlier", "artifact:memo"),
])
def test_a_back_reference_reads_the_older_file_of_its_kind(planner: EmbeddedPlanner, text: str, want: str) -> None:
    # this message brings a file of the other kind; the request points back at an older one
    new = ("artifact:song", "audio") if "pic" in text else ("artifact:beach", "image")
    res: list[tuple[str, Kind]] = [new, ("artifact:made", "image"), ("artifact:memo", "audio")]
    tasks = _check(planner.plan(text, res, attached=[new[0]]), res)
    assert len(tasks) == 1
    assert want in {str(v) for v in tasks[0]["args"].values()}


def test_a_named_text_file_is_read_not_the_recording_beside_it(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:lyrics", "text"), ("artifact:song", "audio")]
    tasks = _check(planner.plan("are the lyrics sad or happy?", res, attached=[h for h, _ in res]), res)
    assert [t["task"] for t in tasks] == ["text-classification"]
    assert "artifact:lyrics" in {str(v) for v in tasks[0]["args"].values()}


def test_what_is_said_in_a_video_beside_a_slide_is_its_speech(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:talk", "video"), ("artifact:slide", "image")]
    tasks = _check(planner.plan("what does the presenter say in the video", res, attached=[h for h, _ in res]), res)
    assert [t["task"] for t in tasks] == ["automatic-speech-recognition"]
    assert "artifact:talk" in {str(v) for v in tasks[0]["args"].values()}


def test_speech_of_a_summary_of_a_video_comes_last(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:lecture", "video")]
    text = "read out loud a summary of what the lecturer says in this video"
    tasks = _check(planner.plan(text, res, attached=["artifact:lecture"]), res)
    assert [t["task"] for t in tasks] == ["automatic-speech-recognition", "summarization", "text-to-speech"]
    assert "artifact:lecture" in {str(v) for v in tasks[0]["args"].values()}


def test_your_last_reply_names_an_earlier_output_not_a_reply_to_write(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:made", "image"), ("artifact:memo", "audio")]
    tasks = _check(planner.plan("segment the image from your last reply", res, attached=[]), res)
    assert [t["task"] for t in tasks] == ["image-segmentation"]
    assert "artifact:made" in {str(v) for v in tasks[0]["args"].values()}


@pytest.mark.parametrize(("text", "want"), [
    ("detect the objects in the first one and caption the second one", ["artifact:a", "artifact:b"]),
    ("caption the 2nd pic and segment the 1st", ["artifact:b", "artifact:a"]),
])
def test_each_step_reads_the_file_its_own_ordinal_names(planner: EmbeddedPlanner, text: str, want: list[str]) -> None:
    res: list[tuple[str, Kind]] = [("artifact:a", "image"), ("artifact:b", "image")]
    tasks = _check(planner.plan(text, res, attached=["artifact:a", "artifact:b"]), res)
    assert [t["args"]["image"] for t in tasks] == want and all(not t["deps"] for t in tasks)


def test_a_photo_sent_now_is_read_before_an_older_recording(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:menu", "image"), ("artifact:old", "audio")]
    tasks = _check(planner.plan("translate this menu into english", res, attached=["artifact:menu"]), res)
    assert [t["task"] for t in tasks] == ["image-to-text", "translation"]
    assert tasks[0]["args"] == {"image": "artifact:menu"}
    tasks = _check(planner.plan("translate this recording into english", res, attached=["artifact:menu"]), res)
    assert tasks[0]["args"] == {"audio": "artifact:old"}  # the noun names the older recording


def test_this_new_photo_and_the_one_you_made_reads_both(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:new", "image"), ("artifact:old", "image")]
    tasks = _check(planner.plan("caption this new photo and also the image you made before", res,
                                attached=["artifact:new"]), res)
    assert sorted(t["args"]["image"] for t in tasks) == ["artifact:new", "artifact:old"]


def test_read_this_out_loud_with_a_photo_reads_the_photo(planner: EmbeddedPlanner) -> None:
    # this message's photo comes before the previous answer; "your answer" names the answer
    res: list[tuple[str, Kind]] = [("artifact:sign", "image")]
    tasks = _check(planner.plan("read this out loud", res, attached=["artifact:sign"], previous_text="Hi."), res)
    assert [t["task"] for t in tasks] == ["image-to-text", "text-to-speech"] and tasks[0]["args"] == {"image": "artifact:sign"}
    tasks = _check(planner.plan("read your answer out loud", res, attached=["artifact:sign"], previous_text="Hi."), res)
    assert tasks == [{"id": 1, "task": "text-to-speech", "deps": [], "args": {"text": "Hi."}}]


def test_both_pictures_with_one_sent_now_reads_the_older_one_too(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:new", "image"), ("artifact:old", "image"), ("artifact:memo", "audio")]
    tasks = _check(planner.plan("describe both pictures", res, attached=["artifact:new"]), res)
    assert sorted(t["args"]["image"] for t in tasks) == ["artifact:new", "artifact:old"]


def test_a_story_about_the_image_you_made_never_transcribes_an_older_recording(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:made", "image"), ("artifact:voice", "audio")]
    tasks = _check(planner.plan("write a story about the image you made", res), res)
    assert tasks[0]["task"] == "image-to-text" and tasks[0]["args"] == {"image": "artifact:made"}
    tasks = _check(planner.plan("translate the speech you synthesized into german", res), res)
    assert tasks[0]["args"] == {"audio": "artifact:voice"}


def test_your_image_and_this_photo_reads_both(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:new", "image"), ("artifact:old", "image")]
    tasks = _check(planner.plan("depth map of your image and of this photo", res, attached=["artifact:new"]), res)
    assert sorted(t["args"]["image"] for t in tasks) == ["artifact:new", "artifact:old"]


@pytest.mark.parametrize(("text", "kind", "bridge"), [
    ("narrate this image", "image", "image-to-text"), ("tell me out loud what you see", "image", "image-to-text"),
    ("say back what I said in a robot voice", "audio", "automatic-speech-recognition"),
])
def test_speech_of_what_a_file_says_reads_the_file_first(planner: EmbeddedPlanner, text: str, kind: Kind,
                                                         bridge: str) -> None:
    res: list[tuple[str, Kind]] = [("artifact:new", kind)]
    tasks = _check(planner.plan(text, res, attached=["artifact:new"]), res)
    assert [t["task"] for t in tasks] == [bridge, "text-to-speech"] and tasks[0]["args"] == {kind: "artifact:new"}
    # an older recording is no file of this message: "say it out loud" speaks the previous answer
    tasks = _check(planner.plan("say it out loud", [("artifact:old", "audio")], previous_text="Hi."), [("artifact:old", "audio")])
    assert tasks == [{"id": 1, "task": "text-to-speech", "deps": [], "args": {"text": "Hi."}}]


def test_a_cue_that_only_names_a_file_sent_now_is_that_file(planner: EmbeddedPlanner) -> None:
    # "the transcript" names the text file sent beside a recording: summarize it, transcribe nothing
    res: list[tuple[str, Kind]] = [("artifact:notes", "text"), ("artifact:talk", "audio")]
    tasks = _check(planner.plan("summarize the transcript", res, attached=[h for h, _ in res]), res)
    assert [(t["task"], t["args"]) for t in tasks] == [("summarization", {"text": "artifact:notes"})]
    # with no text file sent, the transcript is still made from the recording
    audio: list[tuple[str, Kind]] = [("artifact:talk", "audio")]
    tasks = _check(planner.plan("summarize the transcript", audio, attached=["artifact:talk"]), audio)
    assert [t["task"] for t in tasks] == ["automatic-speech-recognition", "summarization"]


@pytest.mark.slow
def test_the_file_is_read_whatever_the_task_wording() -> None:
    """With the real MiniLM (the lexicon knows no cue here): the file at hand is what is read."""
    from orchestrator.planner import Planner, PlanningContext
    from orchestrator.types import Artifact

    router = TaskRouter.load()
    rules = EmbeddedPlanner(router)
    planner = Planner(llm=None, candidates=lambda t: ["any"], router=lambda: router, rule_planner=lambda: rules)

    def art(i: int, kind: Kind, older: bool) -> Artifact:
        return Artifact(id=f"f{i}", conversation_id=0, kind=kind, mime="", path=Path(f"f{i}"), size=0,
                        filename=f"f{i}", task="earlier step" if older else None)

    async def files_read(text: str, arts: list[Artifact], attached: list[str]) -> set[str]:
        plan = await planner.plan(PlanningContext(text, (), arts, attached=attached, any_task=True))
        return {v.id for t in plan.tasks for v in t.args.values() if hasattr(v, "id")}

    import asyncio

    # a text file sent now: a task that also needs a picture cannot read it, so it never wins
    note = art(0, "text", False)
    assert asyncio.run(files_read("illustrate this", [note], [note.handle])) == {"f0"}
    # "the one you drew" points back at the older picture even with no kind noun, on the fast path too
    drawn, spoken = art(1, "image", True), art(2, "audio", True)
    assert asyncio.run(files_read("write a short story inspired by the one you drew", [drawn, spoken], [])) == {"f1"}
    # "say it back to me" with a recording: its words, not the words "it back"
    memo = art(3, "audio", False)
    assert asyncio.run(files_read("say it back to me", [memo], [memo.handle])) == {"f3"}


@pytest.mark.parametrize("text", ["read this out to me", "read this sign aloud", "say it out loud",
                                  "read out this note", "speak this text", "read out what it says"])
def test_speech_of_the_attached_picture_reads_it_first(planner: EmbeddedPlanner, text: str) -> None:
    """Issue 13: a speech step whose words are this message's photo: OCR, then speech of what it read."""
    res: list[tuple[str, Kind]] = [("artifact:img", "image")]
    tasks = _check(planner.plan(text, res, attached=["artifact:img"], previous_text="Old answer."), res)
    assert [t["task"] for t in tasks] == ["image-to-text", "text-to-speech"], tasks
    assert tasks[0]["args"] == {"image": "artifact:img"} and tasks[1]["args"] == {"text": "<GENERATED>-1"}


def test_a_reference_back_speaks_the_earlier_text_even_beside_a_new_picture(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:img", "image")]
    for text in ("turn that first note into speech please", "read what you read out loud", "say the transcript",
                 "say what you transcribed out loud", "read back what you transcribed"):
        tasks = _check(planner.plan(text, res, attached=["artifact:img"], previous_text="Milk."), res)
        assert tasks == [{"id": 1, "task": "text-to-speech", "deps": [], "args": {"text": "Milk."}}], text


@pytest.mark.parametrize("text", ["please create a watercolor of a heron by a lake", "make me a cartoon of a dog surfing",
                                  "can you produce a pencil sketch of an old bridge?"])
def test_an_art_medium_is_a_picture_to_make(planner: EmbeddedPlanner, text: str) -> None:
    """User trial (dev19): "create a watercolor of …" was answered as chat; the medium stays in the prompt."""
    tasks = _check(planner.plan(text, []))
    assert [t["task"] for t in tasks] == ["text-to-image"]
    assert tasks[0]["args"]["text"] == text[text.index(" a ") + 1:].rstrip("?")


def test_each_of_these_reads_every_attached_file(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:a", "image"), ("artifact:b", "image")]
    tasks = _check(planner.plan("read each of these signs", res, attached=["artifact:a", "artifact:b"]), res)
    assert [(t["task"], t["args"]) for t in tasks] == [("image-to-text", {"image": "artifact:a"}),
                                                       ("image-to-text", {"image": "artifact:b"})]


def test_a_pronoun_reads_the_previous_text_not_an_older_recording(planner: EmbeddedPlanner) -> None:
    """User trial (dev19): after a speech turn and an OCR turn, "translate what you read into French"
    transcribed the bot's own old speech; "it" is the previous text unless a recording comes now."""
    old: list[tuple[str, Kind]] = [("artifact:spoken", "audio")]
    for text in ("translate what you read into French", "summarize it"):
        tasks = _check(planner.plan(text, old, previous_text="NO PARKING HERE"), old)
        assert [t["task"] for t in tasks] == [tasks[0]["task"]] and tasks[0]["args"]["text"] == "NO PARKING HERE", text
        # with no earlier text, the recording at hand is still what it reads
        assert [t["task"] for t in _check(planner.plan(text, old), old)][0] == "automatic-speech-recognition"
    # a recording that comes with this message is what "it" means
    new: list[tuple[str, Kind]] = [("artifact:memo", "audio")]
    tasks = _check(planner.plan("summarize it", new, attached=["artifact:memo"], previous_text="Old."), new)
    assert [t["task"] for t in tasks] == ["automatic-speech-recognition", "summarization"]


def test_a_label_for_an_image_is_its_class(planner: EmbeddedPlanner) -> None:
    res: list[tuple[str, Kind]] = [("artifact:img", "image")]
    tasks = _check(planner.plan("give me a label for this image", res, attached=["artifact:img"]), res)
    assert [t["task"] for t in tasks] == ["image-classification"]


def test_read_this_out_with_a_voice_memo_transcribes_it(planner: EmbeddedPlanner) -> None:
    """User trial (dev19): speech of a recording is the recording; what it says is its transcript."""
    res: list[tuple[str, Kind]] = [("artifact:memo", "audio")]
    tasks = _check(planner.plan("read this out to me", res, attached=["artifact:memo"], previous_text="Old."), res)
    assert tasks == [{"id": 1, "task": "automatic-speech-recognition", "deps": [], "args": {"audio": "artifact:memo"}}]
    tasks = _check(planner.plan("say 'hi there' out loud", res, attached=["artifact:memo"]), res)
    assert tasks == [{"id": 1, "task": "text-to-speech", "deps": [], "args": {"text": "hi there"}}]


@pytest.mark.parametrize("text", ["illustrate this", "illustrate this poem", "please illustrate it"])
def test_illustrate_a_text_file_is_a_picture_of_it(planner: EmbeddedPlanner, text: str) -> None:
    """User trial: "illustrate this" with a .txt summarised the file (the wrong task, confidently)."""
    res: list[tuple[str, Kind]] = [("artifact:poem", "text")]
    tasks = _check(planner.plan(text, res, attached=["artifact:poem"]), res)
    assert [(t["task"], t["args"]) for t in tasks] == [("text-to-image", {"text": "artifact:poem"})]


@pytest.mark.parametrize(("text", "task", "args"), [
    ("draw me a dragon sleeping on gold coins", "text-to-image", {"text": "a dragon sleeping on gold coins"}),
    ("How do you say thank you in Japanese?", "translation", {"text": "thank you", "context": "Japanese"}),
])
def test_a_step_with_its_own_words_leaves_an_older_recording_alone(planner: EmbeddedPlanner, text: str,
                                                                   task: str, args: dict[str, str]) -> None:
    # the bot's earlier speech lies in the conversation; the request brings its own content (round 28)
    old: list[tuple[str, Kind]] = [("artifact:old", "audio")]
    assert [(t["task"], t["args"]) for t in _check(planner.plan(text, old), old)] == [(task, args)]
    # sent with this message, a recording is still what a text step reads
    tasks = _check(planner.plan("summarize this", old, attached=["artifact:old"]), old)
    assert [t["task"] for t in tasks] == ["automatic-speech-recognition", "summarization"]


@pytest.mark.parametrize("text", ["summarize the recording", "generate an image of what I said"])
def test_a_step_that_names_the_recording_still_transcribes_an_older_one(planner: EmbeddedPlanner, text: str) -> None:
    old: list[tuple[str, Kind]] = [("artifact:old", "audio")]
    tasks = _check(planner.plan(text, old), old)
    assert tasks[0]["task"] == "automatic-speech-recognition" and tasks[0]["args"] == {"audio": "artifact:old"}
    assert tasks[1]["deps"] == [1]



@pytest.mark.parametrize(("text", "kind", "older", "want"), [
    # "say:" with a colon is the verb too (it was open chat); the words after it are spoken
    ("please say: the meeting is moved to friday", None, False,
     [("text-to-speech", {"text": "the meeting is moved to friday"})]),
    # "with voice": read the picture's text, then speak it (it only read the text)
    ("please to read me this image with voice", "image", False,
     [("image-to-text", {"image": "artifact:f"}), ("text-to-speech", {"text": "<GENERATED>-1"})]),
    # the edit verb reads the earlier picture the request points at
    ("blur the picture you just made", "image", True,
     [("image-to-image", {"image": "artifact:f", "text": "blur the picture you just made"})]),
])
def test_round_28_wordings(planner: EmbeddedPlanner, text: str, kind: Kind | None, older: bool,
                           want: list[tuple[str, dict[str, str]]]) -> None:
    res: list[tuple[str, Kind]] = [("artifact:f", kind)] if kind else []
    attached = [] if older else [h for h, _ in res]
    assert [(t["task"], t["args"]) for t in _check(planner.plan(text, res, attached=attached), res)] == want


def test_style_words_inside_a_prompt_start_no_step_of_their_own(planner: EmbeddedPlanner) -> None:
    # "oil painting style" is part of the picture's prompt, not an edit of it (round 28: an extra image-to-image)
    tasks = _check(planner.plan("can u generate an image: sunset over mountains, oil painting style", []))
    assert [(t["task"], t["args"]) for t in tasks] == [("text-to-image", {"text": "sunset over mountains, oil painting style"})]
    # an edit asked for after the picture is still a step of its own
    tasks = _check(planner.plan("make a picture of a fox, then make it look like a cartoon", []))
    assert [t["task"] for t in tasks] == ["text-to-image", "image-to-image"] and tasks[1]["deps"] == [1]


@pytest.mark.parametrize("text", ["now turn that into speech", "and now make that into speech"])
def test_that_into_speech_speaks_the_earlier_text(planner: EmbeddedPlanner, text: str) -> None:
    """User trial: "that into speech" read as pointing at a recording ("that … speech"), so nothing was
    planned and the request was refused as open chat; "that" is the previous turn's text."""
    tasks = _check(planner.plan(text, [], previous_text="Fox."))
    assert tasks == [{"id": 1, "task": "text-to-speech", "deps": [], "args": {"text": "Fox."}}]


def test_a_sentiment_question_with_a_colon_reads_the_passage(planner: EmbeddedPlanner) -> None:
    tasks = _check(planner.plan("is this review positive: the battery died after two days", []))
    assert [(t["task"], t["args"]) for t in tasks] == [("text-classification", {"text": "the battery died after two days"})]
