"""The fast path: cue lexicon, route acceptance, one-task plans; one slow test with real MiniLM."""

from __future__ import annotations

import pytest

from orchestrator.router import Lexicon, TaskRouter
from orchestrator.types import Kind
from orchestrator.validate import validate_plan
from tests.fakes.embedder import WordEmbedder


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.packaged()


@pytest.fixture(scope="module")
def router() -> TaskRouter:
    return TaskRouter(WordEmbedder())


def test_every_lexicon_task_is_registered_and_threshold_is_loaded(lexicon: Lexicon) -> None:
    router = TaskRouter(WordEmbedder(), lexicon)
    assert router.threshold == lexicon.threshold > 0
    assert TaskRouter(WordEmbedder(), lexicon, threshold=0.7).threshold == 0.7
    assert "image-to-image" in lexicon.tasks and "conversational" not in lexicon.tasks


def test_quoted_literals_do_not_trigger_cues(lexicon: Lexicon) -> None:
    a = lexicon.analyse("Translate 'please summarize and translate this video' into French")
    assert a.tasks == ["translation"]
    assert a.quotes == ("please summarize and translate this video",)
    assert lexicon.analyse("I'd like to know what's here in 'example.jpg'").files == (("example.jpg", "image"),)


@pytest.mark.parametrize(("text", "kinds", "want"), [
    ("classify the audio clip", (), ["audio-classification"]),
    ("please classify this photo", (), ["image-classification"]),
    ("classify it", ("audio",), ["audio-classification"]),
    ("estimate the depth in example.jpg, then classify it", (), ["depth-estimation", "image-classification"]),
    ("enhance the audio quality", (), ["audio-to-audio"]),
    ("enhance the image", (), ["image-to-image"]),
    ("answer the question about the photo: 'what colour is it?'", (), ["visual-question-answering"]),
    ("I have a document image example.jpg; answer my question: 'who signed it?'", (), ["document-question-answering"]),
    ("answer the question 'when?' from this text", (), ["question-answering"]),
    ("convert the speech in it to a text document", ("audio",), ["automatic-speech-recognition"]),
    ("perform token classification on the labels", (), ["token-classification"]),
])
def test_generic_verbs_resolve_by_object(lexicon: Lexicon, text: str, kinds: tuple[Kind, ...], want: list[str]) -> None:
    assert lexicon.analyse(text, kinds).tasks == want


def test_inputs_that_are_only_mentioned_start_no_task(lexicon: Lexicon) -> None:
    a = lexicon.analyse("I have an audio file 'example.wav'. Please transcribe it.")
    assert a.tasks == ["automatic-speech-recognition"]


def test_mentions_keep_reading_order_and_drop_repeats(lexicon: Lexicon) -> None:
    a = lexicon.analyse("Edit example.jpg to add a hat. After editing the image, detect the objects and edit it again.")
    assert a.tasks == ["image-to-image", "object-detection"]
    assert a.multi_step  # "after editing"


@pytest.mark.parametrize("text", ["transcribe it and then translate it", "do X, finally do Y",
                                  "also caption it", "after that, segment it"])
def test_multi_step_words(lexicon: Lexicon, text: str) -> None:
    assert lexicon.analyse(text).multi_step


def test_route_accepts_one_clear_task_with_its_input(router: TaskRouter) -> None:
    route = router.route("please transcribe this recording", ["audio"])
    assert route.task == "automatic-speech-recognition"
    assert route.accepted and route.confidence >= router.threshold
    assert route.runner_up is not None and route.runner_up != route.task


def test_route_rejects_missing_input_multi_step_and_chat(router: TaskRouter) -> None:
    missing = router.route("please transcribe this recording", [])
    assert missing.task == "automatic-speech-recognition" and not missing.accepted
    assert "audio" in missing.reason
    multi = router.route("transcribe this recording and then translate it to French", ["audio"])
    assert not multi.accepted
    chat = router.route("hi there, how is it going", [])
    assert not chat.accepted


def test_route_threshold_gates_acceptance(router: TaskRouter) -> None:
    strict = TaskRouter(WordEmbedder(), router.lexicon, threshold=1.01)
    route = strict.route("please transcribe this recording", ["audio"])
    assert not route.accepted and "below" in route.reason


def test_plan_wires_newest_resource_of_the_right_kind(router: TaskRouter) -> None:
    resources: list[tuple[str, Kind]] = [("artifact:new-audio", "audio"), ("artifact:img", "image"),
                                         ("artifact:old-audio", "audio")]
    raw = router.plan("transcribe this", resources)
    assert raw == {"tasks": [{"id": 1, "task": "automatic-speech-recognition", "deps": [],
                              "args": {"audio": "artifact:new-audio"}}]}
    plan = validate_plan(raw, handles=dict(resources), source="router")
    assert plan.tasks[0].task == "automatic-speech-recognition"


def test_plan_text_task_gets_its_content(router: TaskRouter) -> None:
    raw = router.plan("make a picture of a cat", [])
    assert raw is not None
    assert raw["tasks"][0]["task"] == "text-to-image"
    assert raw["tasks"][0]["args"] == {"text": "a cat"}
    validate_plan(raw, handles={}, source="router")
    assert router.plan("transcribe this and then summarize it", [("artifact:a", "audio")]) is None


@pytest.mark.slow
def test_real_minilm_routes_chat_requests() -> None:
    router = TaskRouter.load()
    cases: list[tuple[str, list[Kind], str]] = [
        ("transcribe this", ["audio"], "automatic-speech-recognition"),
        ("read the text", ["image"], "image-to-text"),
        ("what's in this picture?", ["image"], "image-to-text"),
        ("make a picture of a cat", [], "text-to-image"),
        ("say hello in a robot voice", [], "text-to-speech"),
    ]
    for text, kinds, want in cases:
        route = router.route(text, kinds)
        assert (route.task, route.accepted) == (want, True), (text, route)
    sims = router.similarities("hello in a robot voice")
    assert max(sims, key=lambda n: sims[n]) == "text-to-speech"
    assert not router.route("thanks, that's great", []).accepted
    from orchestrator.embedded_planner import EmbeddedPlanner

    planner = EmbeddedPlanner(router)
    for small_talk in ("hi!", "how are you today?", "good morning!"):
        assert planner.plan(small_talk, []) == {"tasks": []}, small_talk


def test_plan_translation_names_the_target_language(router: TaskRouter) -> None:
    raw = router.plan("please translate this sentence into german: good morning", [])
    assert raw is not None
    assert raw["tasks"][0]["args"] == {"text": "good morning", "context": "German"}  # what to translate, not the ask
    validate_plan(raw, handles={}, source="router")


def test_plan_text_is_the_quoted_literal_when_there_is_one(router: TaskRouter) -> None:
    raw = router.plan("is this review positive or negative? 'the food was awful'", [])
    assert raw is not None and raw["tasks"][0]["args"]["text"] == "the food was awful"


@pytest.mark.slow
def test_the_onnx_and_torch_minilm_agree() -> None:
    from orchestrator.router import MiniLMEmbedder, OnnxMiniLMEmbedder

    texts = ["read the text in this image aloud", "transcribe this recording", "hello"]
    a, b = OnnxMiniLMEmbedder().encode(texts), MiniLMEmbedder().encode(texts)
    assert a.shape == b.shape == (3, 384)
    assert float((a * b).sum(1).min()) > 0.99  # int8 weights, same directions


def test_plan_similarity_compares_the_two_quoted_sentences(router: TaskRouter) -> None:
    raw = router.plan("how similar are 'the cat sat on the mat' and 'a cat was sitting on a rug'", [])
    assert raw is not None
    assert raw["tasks"][0]["args"] == {"text": "the cat sat on the mat", "context": "a cat was sitting on a rug"}


def test_the_attached_image_wins_over_an_older_recording(router: TaskRouter) -> None:
    # issue 13: "what does this sign say?" + sign.png in a channel that held a voice memo
    resources: list[tuple[str, Kind]] = [("artifact:memo", "audio"), ("artifact:sign", "image")]
    router = TaskRouter(WordEmbedder(), router.lexicon, threshold=0.0)  # the wiring, whatever the margin
    raw = router.plan("what does this sign say?", resources, attached=["artifact:sign"])
    # The fast path may leave it to the embedded planner (its similarity favours "say"), but it never
    # transcribes the old memo. test_planner checks the whole no-LLM path.
    assert raw is None or raw["tasks"] == [
        {"id": 1, "task": "image-to-text", "deps": [], "args": {"image": "artifact:sign"}}]
    assert not router.route("what does this sign say?", ["image", "audio"]).accepted or \
        router.route("what does this sign say?", ["image", "audio"]).task == "image-to-text"


def test_a_back_reference_reads_the_earlier_file(router: TaskRouter) -> None:
    resources: list[tuple[str, Kind]] = [("artifact:new", "image"), ("artifact:made", "image")]
    router = TaskRouter(WordEmbedder(), router.lexicon, threshold=0.0)
    raw = router.plan("now caption the image you just made", resources, attached=["artifact:new"])
    assert raw is not None and raw["tasks"][0]["args"] == {"image": "artifact:made"}


@pytest.mark.parametrize(("text", "previous", "want"), [
    ("say hello world out loud", None, "hello world"),
    ("now say it out loud", "The sign says: closed on Sundays.", "The sign says: closed on Sundays."),
    ("Make me a picture of a red car on a road, please.", None, "a red car on a road"),
    ("translate 'where is the station?' into French", None, "where is the station?"),
])
def test_a_step_gets_its_content_not_the_framing(router: TaskRouter, text: str, previous: str | None,
                                                 want: str) -> None:
    raw = TaskRouter(WordEmbedder(), router.lexicon, threshold=0.0).plan(text, [], previous_text=previous)
    assert raw is not None and raw["tasks"][0]["args"]["text"] == want


def test_it_without_an_earlier_answer_is_not_spoken_literally(router: TaskRouter) -> None:
    eager = TaskRouter(WordEmbedder(), router.lexicon, threshold=0.0)
    assert eager.plan("now say it out loud", []) is None  # the full planner decides; never "Now, say it out loud."


def test_the_fast_path_declines_a_task_nothing_here_runs(router: TaskRouter) -> None:
    res: list[tuple[str, Kind]] = [("artifact:a", "audio")]
    router = TaskRouter(WordEmbedder(), router.lexicon, threshold=0.0)
    assert router.plan("transcribe this", res, runnable={"image-to-text"}) is None
    route = router.route("transcribe this", ["audio"], runnable={"image-to-text"})
    assert not route.accepted and "no model" in route.reason
    assert router.plan("transcribe this", res, runnable={"automatic-speech-recognition"}) is not None


def test_a_question_with_a_text_file_is_answered_from_the_file(router: TaskRouter) -> None:
    res: list[tuple[str, Kind]] = [("artifact:faq", "text")]
    eager = TaskRouter(WordEmbedder(), router.lexicon, threshold=0.0)
    raw = eager.plan("in this file, what's the refund period?", res, attached=["artifact:faq"])
    assert raw is not None and raw["tasks"] == [{"id": 1, "task": "question-answering", "deps": [], "args": {
        "text": "in this file, what's the refund period?", "context": "artifact:faq"}}]


def test_a_text_task_on_an_attached_video_is_left_to_the_planner(router: TaskRouter) -> None:
    # the fast path plans one step; "french subtitles for this video" needs the transcript first
    eager = TaskRouter(WordEmbedder(), router.lexicon, threshold=0.0)
    res: list[tuple[str, Kind]] = [("artifact:talk", "video")]
    assert eager.plan("french subtitles for this video please", res, attached=["artifact:talk"]) is None
    assert eager.plan("translate 'merci' into english", res, attached=["artifact:talk"]) is not None
    sign: list[tuple[str, Kind]] = [("artifact:sign", "image")]
    assert eager.plan("translate this into german", sign, attached=["artifact:sign"]) is None  # OCR first


def test_both_files_are_left_to_the_planner(router: TaskRouter) -> None:
    eager = TaskRouter(WordEmbedder(), router.lexicon, threshold=0.0)
    res: list[tuple[str, Kind]] = [("artifact:a", "audio"), ("artifact:b", "audio")]
    assert eager.plan("transcribe both", res, attached=["artifact:a", "artifact:b"]) is None
    assert eager.plan("transcribe both", res[:1], attached=["artifact:a"]) is not None


@pytest.mark.slow  # the real MiniLM: the fake embedder would decline these for other reasons
def test_speech_of_the_attached_picture_is_left_to_the_planner_that_reads_it() -> None:
    """Issue 13: "read this out to me" with a photo must not speak "this out" nor the previous answer;
    the fast path declines, the embedded planner reads the photo first. Words of its own are spoken."""
    router = TaskRouter.load()
    img: list[tuple[str, Kind]] = [("artifact:img", "image")]
    assert router.plan("read this sign aloud", img, attached=["artifact:img"]) is None
    memo: list[tuple[str, Kind]] = [("artifact:memo", "audio")]
    assert router.plan("read this out to me", memo, attached=["artifact:memo"], previous_text="Old answer.") is None
    for text in ("read this out to me", "say it out loud"):
        assert router.plan(text, img, attached=["artifact:img"], previous_text="Old answer.") is None, text
        # the same words with no new picture: the previous answer is what "this"/"it" means
        raw = router.plan(text, [], previous_text="Old answer.")
        assert raw is not None and raw["tasks"][0]["args"] == {"text": "Old answer."}, text
    raw = router.plan("say hello world out loud", img, attached=["artifact:img"])
    assert raw is not None and raw["tasks"][0]["args"] == {"text": "hello world"}
    # an explicit reference back, even beside a new picture, is the earlier text
    raw = router.plan("turn that first note into speech please", img, attached=["artifact:img"], previous_text="Milk.")
    assert raw is not None and raw["tasks"] == [{"id": 1, "task": "text-to-speech", "deps": [], "args": {"text": "Milk."}}]


@pytest.mark.parametrize(("text", "kinds", "want"), [
    ("please say: the meeting is moved to friday", (), ["text-to-speech"]),
    ("read this recipe to me", ("text",), ["text-to-speech"]),  # MiniLM's best match was translation
    ("please to read me this image with voice", ("image",), ["text-to-speech"]),
    ("blur the picture you just made", ("image",), ["image-to-image"]),  # it was scribble-control
    ("flip it upside down", ("image",), ["image-to-image"]),
])
def test_round_28_cues(lexicon: Lexicon, text: str, kinds: tuple[Kind, ...], want: list[str]) -> None:
    assert lexicon.analyse(text, kinds).tasks == want


@pytest.mark.parametrize(("text", "not_task"), [
    ("any text in this picture? read it to me", "text-to-speech"),  # "read it to me" alone is "tell me"
    ("the photo is blurry, what does it say?", "image-to-image"),  # "blurry" is no edit
])
def test_round_28_cues_stay_narrow(lexicon: Lexicon, text: str, not_task: str) -> None:
    tasks = lexicon.analyse(text, ("image",)).tasks
    assert tasks and not_task not in tasks


@pytest.mark.parametrize("text", ["is it about headphones, shoes or a phone?", "is this text about sports, politics or tech?",
                                  "what is this essay about, sports or politics?"])
def test_a_topic_question_with_its_options_is_zero_shot(lexicon: Lexicon, text: str) -> None:
    # it was question answering over the file ("I ordered the blue headphones last week.")
    assert lexicon.analyse(text, ("text",)).tasks == ["zero-shot-classification"]


def test_a_topic_question_without_options_is_not_zero_shot(lexicon: Lexicon) -> None:
    assert "zero-shot-classification" not in lexicon.analyse("what is this essay about?", ("text",)).tasks
