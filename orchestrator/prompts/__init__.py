"""Prompts are data: YAML files shipped with the package, loaded once."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

DATA_OPEN, DATA_CLOSE = "<data>", "</data>"


def as_data(text: str) -> str:
    """``text`` marked as data for a prompt: wrapped in ``<data>…</data>``, with ``&``, ``<`` and
    ``>`` escaped inside so that no filename, model output or earlier answer can close the block
    (or open a fake one). The prompts tell the model never to follow instructions found inside."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"{DATA_OPEN}{escaped}{DATA_CLOSE}"


@cache
def load(name: str) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def task_messages(task: str, text: str, context: str = "") -> list[dict[str, str]]:
    """The chat messages that ask a chat model to do ``task`` on ``text`` (and ``context``)."""
    p = load("tasks")
    values = {"text": text, "context": context, "target": context or "English"}
    system = p["system"].get(task)
    user = p["user"].get(task) if context else None
    if task == "question-answering" and not context:
        system = None  # no passage: a plain question
    messages = [{"role": "system", "content": system.format_map(values)}] if system else []
    messages.append({"role": "user", "content": user.format_map(values) if user else text})
    return messages


def vision_prompt(task: str, text: str) -> str:
    """The text that goes with the image for a vision-language model."""
    template = load("tasks")["vision"].get(task)
    if template is None:
        return text
    return str(template).format_map({"text": text}) if (text or "{text}" not in template) else ""
