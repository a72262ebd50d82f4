"""What hgbot's Discord messages say: answer chunks, file labels, thread names, error lines.

Pure functions over our own types; nothing here talks to Discord.
"""

from __future__ import annotations

import re

from adapters.common import neutralize_mentions, split_text
from orchestrator.types import Artifact, Reply

MESSAGE_LIMIT = 2000
CHUNK_LIMIT = 1990  # a little under Discord's 2,000 so a fence close or ellipsis never tips it over
THREAD_NAME_LIMIT = 100

_ICON = {"image": "🖼️", "audio": "🔊", "video": "🎞️", "text": "📄"}
_USER_MENTION = re.compile(r"<@!?(\d+)>")


def safe(text: str) -> str:
    """Model or user text made inert: mass mentions broken (``allowed_mentions`` is none as well)."""
    return neutralize_mentions(text)


def answer_chunks(reply: Reply, notes: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The reply text, prefixed by adapter notes, split below 2,000 characters without breaking code."""
    text = reply.text.strip()
    if reply.error and not text:
        text = reply.error
    if reply.error:
        text = f"⚠️ {text}"
    if not text and not reply.artifacts:
        text = "(no answer)"
    parts = [*(f"ℹ️ {n}" for n in notes), text] if text else [f"ℹ️ {n}" for n in notes]
    return split_text(safe("\n\n".join(parts)), CHUNK_LIMIT) if parts else []


def file_label(artifact: Artifact) -> str:
    """One line above a generated file: what made it (task · model)."""
    icon = _ICON.get(artifact.kind, "📎")
    made_by = " · ".join(p for p in (artifact.task, artifact.model) if p) or artifact.kind
    return safe(f"{icon} {made_by}")


def too_large(artifact: Artifact, limit: int) -> str:
    name = artifact.filename or artifact.path.name
    return safe(
        f"⚠️ {name} ({mib(artifact.size)}, from {artifact.task or artifact.kind}) is over this "
        f"channel's {mib(limit)} upload limit, so it was not sent. It stays in this conversation "
        f"as `{artifact.handle}`."
    )


def mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def strip_bot_mention(content: str, bot_id: int) -> str:
    """The request text without the ``<@bot>`` that addressed it (other mentions stay as they are)."""
    return re.sub(rf"<@!?{bot_id}>", "", content).strip()


def thread_name(text: str) -> str:
    """A readable thread title from the request's first line (Discord allows 100 characters)."""
    first = _USER_MENTION.sub("", text).strip().splitlines()[0] if text.strip() else ""
    first = first.strip() or "hgbot"
    return first if len(first) <= THREAD_NAME_LIMIT else first[: THREAD_NAME_LIMIT - 1] + "…"


def slash_header(user_mention: str, text: str, filename: str | None) -> str:
    """The completed interaction response: who asked what (the work follows in its thread)."""
    quoted = text if len(text) <= 1500 else text[:1499] + "…"
    extra = f" (+ {filename})" if filename else ""
    return safe(f"{user_mention} asked: {quoted}{extra}")


def failure(exc_text: str) -> str:
    return safe(f"⚠️ {exc_text}")
