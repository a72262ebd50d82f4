"""What hgbot says about itself without an LLM: which tasks run here (with an example each), why a
task cannot run here and what would enable it, and the reply to open chat when no trustworthy
chat model is configured.

Everything is built from the active catalog and ``prompts/capabilities.yaml``, never generated,
so the answer is instant and cannot invent a feature.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache

from . import prompts
from . import tasks as registry


@cache
def _patterns(key: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in prompts.load("capabilities")[key])


def is_capability_question(text: str, *, greetings: bool = False) -> bool:
    """True for "hello, what can you do?", "help", "what are your features" and the like; with
    ``greetings``, for a bare "hello" too."""
    keys = ("questions", "greetings") if greetings else ("questions",)
    return any(p.search(text) for key in keys for p in _patterns(key))


def capability_answer(runnable: Mapping[str, str], chat_model: str | None) -> str:
    """The tasks in ``runnable`` (task → what its best model here does; registry order), each with
    an example request, and whether open chat is available (``chat_model`` names the model
    answering it, None when there is none)."""
    p = prompts.load("capabilities")
    names = [t for t in registry.TASKS if t in runnable]
    lines = []
    for name in names:
        what = runnable[name] or registry.TASKS[name].description
        example = p["examples"].get(name)
        lines.append(f"- **{name}**: {what}" + (f" Try: “{example}”" if example else ""))
    chat = (p["chat_available"].format_map({"model": chat_model}) if chat_model
            else p["chat_unavailable"].strip())
    return str(p["capabilities"].format_map({"count": len(names), "lines": "\n".join(lines), "chat": chat})).strip()


def open_chat_answer() -> str:
    p = prompts.load("capabilities")
    return " ".join(p["open_chat"].format_map({"enable": p["chat_unavailable"].strip()}).split())


def unrunnable_line(task: str, hub_models: Callable[[str], Iterable[str]] | None = None, *,
                    has_endpoint: bool = False) -> str:
    """One line: ``task`` cannot run here, and what would enable it (an endpoint unless one is
    configured, a hub model to pull when the hub catalog lists one, a catalog entry)."""
    p = prompts.load("capabilities")
    first = next(iter(hub_models(task)), None) if hub_models is not None else None
    if has_endpoint:
        pull = p["enable_pull_only"].format_map({"model": first}) if first else ""
        enable = p["enable_catalog"].format_map({"pull": pull})
    else:
        pull = p["enable_pull"].format_map({"model": first}) if first else ""
        enable = p["enable_endpoint"].format_map({"pull": pull})
    return str(p["unrunnable"].format_map({"task": task, "enable": enable}))


def narrow_substitute(only: str, request: str, runnable: Callable[[str], bool]) -> tuple[str, str] | None:
    """When the model that would run covers only part of its task (``only``, e.g. "faces") and the
    request asks for more, (a runnable task that answers it better, the note saying so), else None."""
    scope = prompts.load("capabilities").get("narrow", {}).get(only)
    if not scope or re.search(scope["asks"], request, re.IGNORECASE):
        return None
    for option in scope.get("substitutes", []):
        if runnable(option["task"]):
            return str(option["task"]), " ".join(str(option["note"]).split())
    return None


def substitute(task: str, request: str, runnable: Callable[[str], bool]) -> tuple[str, str] | None:
    """(a runnable task that answers part of ``task``, the note saying so), or None."""
    for option in prompts.load("capabilities").get("substitutes", {}).get(task, []):
        if option["when"] and not re.search(option["when"], request, re.IGNORECASE):
            continue
        if runnable(option["task"]):
            return str(option["task"]), " ".join(str(option["note"]).split())
    return None
