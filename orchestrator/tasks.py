"""The task registry: every task hgbot can plan, with typed inputs and outputs.

Names follow HuggingGPT (and the Hugging Face hub's pipeline tags). ``args`` of a plan task may
hold one value per kind (``text``, ``image``, ``audio``, ``video``) plus ``context``: a second
text for tasks that need one (the QA context, the other sentence for similarity, the candidate
labels for zero-shot classification, the target language for translation).
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import Kind

ARG_KEYS: tuple[str, ...] = ("text", "image", "audio", "video", "context")


@dataclass(frozen=True)
class Task:
    name: str
    inputs: tuple[Kind, ...]  # required input kinds
    output: Kind
    description: str
    optional: tuple[str, ...] = ()  # optional arg keys ("context", or a kind)
    group: str = "nlp"
    also: tuple[Kind, ...] = ()  # secondary outputs, e.g. detection labels as text beside the boxed image

    def accepts(self, key: str) -> bool:
        return key in self.inputs or key in self.optional

    def produces(self, kind: str) -> bool:
        return kind == self.output or kind in self.also


def _t(name: str, inputs: tuple[Kind, ...], output: Kind, description: str,
       optional: tuple[str, ...] = (), group: str = "nlp", also: tuple[Kind, ...] = ()) -> Task:
    return Task(name, inputs, output, description, optional, group, also)


_TASKS: list[Task] = [
    # --- language
    _t("token-classification", ("text",), "text", "Label words in a text: named entities (people, places, dates) or parts of speech."),
    _t("text-classification", ("text",), "text", "Classify a text, e.g. its sentiment (positive/negative) or topic."),
    _t("zero-shot-classification", ("text",), "text", "Classify a text into labels given in the request (context: comma-separated labels).", ("context",)),
    _t("question-answering", ("text",), "text", "Answer a question (text) from a passage (context).", ("context",)),
    _t("summarization", ("text",), "text", "Summarize a long text into a short one."),
    _t("translation", ("text",), "text", "Translate a text into another language (context: the target language).", ("context",)),
    _t("conversational", ("text",), "text", "Chat: reply to a message as an assistant."),
    _t("text-generation", ("text",), "text", "Write or continue text: stories, answers, code, rewriting."),
    _t("text2text-generation", ("text",), "text", "Transform a text into another text (paraphrase, correct grammar, rewrite)."),
    _t("sentence-similarity", ("text",), "text", "Score how similar two sentences are (text and context).", ("context",)),
    _t("tabular-classification", ("text",), "text", "Classify a row of a table given as CSV text."),
    # --- vision
    _t("image-classification", ("image",), "text", "Say what an image shows as class labels.", group="cv"),
    _t("object-detection", ("image",), "image", "Find and box objects (or faces) in an image; also lists them as text.",
       group="cv", also=("text",)),
    _t("image-segmentation", ("image",), "image", "Split an image into labelled regions (masks); also lists them as text.",
       group="cv", also=("text",)),
    _t("depth-estimation", ("image",), "image", "Estimate depth from a single image as a depth map.", group="cv"),
    _t("image-to-text", ("image",), "text", "Describe an image in words (captioning), or read the text in it (OCR).", group="cv"),
    _t("image-to-image", ("image",), "image", "Transform an image as the text asks (edit, restyle, variation).", ("text",), group="cv"),
    _t("text-to-image", ("text",), "image", "Generate an image from a text description.", group="cv"),
    _t("visual-question-answering", ("image", "text"), "text", "Answer a question (text) about an image.", group="cv"),
    _t("document-question-answering", ("image", "text"), "text", "Answer a question (text) about a document image (invoice, form, page).", group="cv"),
    # --- video
    _t("text-to-video", ("text",), "video", "Generate a short video from a text description.", group="video"),
    # --- audio
    _t("text-to-speech", ("text",), "audio", "Read a text aloud as speech audio.", group="audio"),
    _t("automatic-speech-recognition", ("audio",), "text", "Transcribe speech in an audio file to text.", group="audio"),
    _t("audio-to-audio", ("audio",), "audio", "Transform audio: enhance, denoise or separate speech.", group="audio"),
    _t("audio-classification", ("audio",), "text", "Classify an audio clip (sound events, spoken commands, emotion).", group="audio"),
]

# ControlNet: an image becomes a control map, and a control map plus a prompt becomes an image.
CONTROL_KINDS = ("canny", "depth", "hed", "mlsd", "openpose", "seg", "scribble")
for _c in CONTROL_KINDS:
    _TASKS.append(_t(f"{_c}-control", ("image",), "image", f"Extract a {_c} control map from an image (for ControlNet).", group="controlnet"))
    _TASKS.append(_t(f"{_c}-text-to-image", ("text", "image"), "image",
                     f"Generate an image from a text prompt that follows a {_c} control image.", group="controlnet"))

TASKS: dict[str, Task] = {t.name: t for t in _TASKS}

# Tasks that share a backend implementation under another name.
ALIASES: dict[str, str] = {"conversational": "text-generation"}


def get(name: str) -> Task | None:
    return TASKS.get(name)


def names() -> list[str]:
    return list(TASKS)
