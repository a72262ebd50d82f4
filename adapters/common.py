"""Platform-neutral helpers every adapter uses: safe text, splitting, progress lines, access control."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from orchestrator.types import RunStatus, TaskRun

# Characters that render as nothing: a mention hidden behind one of them must still be caught,
# and one put there by us would leave the text carrying the mention for anything that strips them.
_INVISIBLE = "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
_AT = "@\uff20\ufe6b"  # @, full-width ＠, small ﹫


def _letters(word: str) -> str:
    """A pattern for ``word`` in ASCII or full-width letters, with invisible characters between them."""
    return f"[{_INVISIBLE}]*".join(f"[{c}{c.upper()}{chr(ord(c) + 0xFEE0)}{chr(ord(c.upper()) + 0xFEE0)}]"
                                   for c in word)


# No \b at the end: "@everyones", "@everyone_" and "@here123" are parsed as mentions by some clients
_MASS_MENTIONS = re.compile(f"[{_AT}][{_INVISIBLE}]*(" + "|".join(_letters(w) for w in ("everyone", "here", "channel"))
                            + ")")
_SLACK_SPECIAL = re.compile(r"<!(everyone|here|channel)(\|[^>]*)?>", re.IGNORECASE)
_SLACK_GROUP = re.compile(r"<!subteam\^[^>|]*(?:\|([^>]*))?>", re.IGNORECASE)
_DISCORD_ROLE = re.compile(r"<@&(\d+)>")
_INVISIBLE_RUN = re.compile(f"[{_INVISIBLE}]+")


def neutralize_mentions(text: str) -> str:
    """Make every mass or group mention inert *as text*, whatever the platform.

    ``@everyone``/``@here``/``@channel`` (any case, full-width ``＠``, invisible characters inside,
    letters or digits after) become ``@ everyone``: readable, and no client, and no check that
    strips invisible characters, finds a mention in it. Slack's ``<!channel>``/``<!here>``/
    ``<!everyone>`` and ``<!subteam^…>`` groups and Discord's ``<@&role>`` become plain words.
    ``allowed_mentions`` none (Discord) and escaping (Slack) stay as the second line of defence.
    """
    text = _SLACK_SPECIAL.sub(lambda m: f"@ {m.group(1).lower()}", text)
    text = _SLACK_GROUP.sub(lambda m: "@ " + (m.group(1) or "group").lstrip("@＠﹫ "), text)
    text = _DISCORD_ROLE.sub("@ role", text)
    return _MASS_MENTIONS.sub(lambda m: "@ " + _INVISIBLE_RUN.sub("", m.group(1)), text)


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters without breaking code blocks.

    Splits at paragraph, then line, then word boundaries. When a split falls inside a fenced code
    block, the fence is closed at the end of the chunk and reopened (same language) in the next.
    """
    if limit < 16:
        raise ValueError("limit too small")
    chunks: list[str] = []
    rest = text
    reopen = ""
    while rest:
        rest = reopen + rest
        if len(rest) <= limit:
            chunks.append(rest)
            break
        budget = limit - 4  # room to close a fence: "\n```"
        cut = _best_cut(rest, budget)
        head, rest = rest[:cut], rest[cut:]
        fence = _open_fence(head)
        if fence is not None:
            head = head.rstrip("\n") + "\n```"
            reopen = f"```{fence}\n"
            rest = rest.lstrip("\n")
        else:
            reopen = ""
            rest = rest.lstrip("\n ") if not rest.startswith("```") else rest
        chunks.append(head.rstrip() or head)
    return [c for c in chunks if c.strip()]


def _best_cut(text: str, budget: int) -> int:
    window = text[:budget]
    for sep in ("\n\n", "\n", " "):
        pos = window.rfind(sep)
        if pos > budget // 3:
            return pos + len(sep)
    return budget


def _open_fence(text: str) -> str | None:
    """The language of a fenced block left open at the end of ``text`` ("" if none given), else None."""
    lang: str | None = None
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith("```"):
            lang = None if lang is not None else stripped[3:].strip()
    return lang


_ICON = {
    RunStatus.QUEUED: "⏳",
    RunStatus.RUNNING: "⚙️",
    RunStatus.OK: "✅",
    RunStatus.FAILED: "❌",
    RunStatus.SKIPPED: "⏭️",
}


def progress_lines(runs: Iterable[TaskRun]) -> list[str]:
    """One line per plan step: icon, id, task, model, state and seconds."""
    lines = []
    for run in runs:
        model = f" · {run.model}" if run.model else ""
        secs = f" · {run.seconds:.1f}s" if run.status in (RunStatus.OK, RunStatus.FAILED, RunStatus.RUNNING) and run.seconds else ""
        err = f" — {run.error}" if run.error and run.status in (RunStatus.FAILED, RunStatus.SKIPPED) else ""
        lines.append(f"{_ICON[run.status]} {run.id}. {run.task}{model} · {run.status.value}{secs}{err}")
    return lines


@dataclass(frozen=True)
class AccessPolicy:
    """Allow/deny lists. A deny entry always wins; a non-empty allow list admits only its members."""

    allow_users: frozenset[str] = field(default_factory=frozenset)
    deny_users: frozenset[str] = field(default_factory=frozenset)
    allow_channels: frozenset[str] = field(default_factory=frozenset)
    deny_channels: frozenset[str] = field(default_factory=frozenset)
    allow_roles: frozenset[str] = field(default_factory=frozenset)
    deny_roles: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, s: object) -> AccessPolicy:
        def g(name: str) -> frozenset[str]:
            return frozenset(getattr(s, name, []) or [])

        return cls(g("allow_users"), g("deny_users"), g("allow_channels"), g("deny_channels"),
                   g("allow_roles"), g("deny_roles"))

    def check(self, user: str, channel: str, roles: Iterable[str] = ()) -> str | None:
        """None when allowed, else the reason to show the user."""
        roles = set(roles)
        if user in self.deny_users or roles & self.deny_roles:
            return "You are not allowed to use hgbot here."
        if channel in self.deny_channels:
            return "hgbot is disabled in this channel."
        if self.allow_users or self.allow_roles:
            if user not in self.allow_users and not roles & self.allow_roles:
                return "You are not on hgbot's allow list; ask an admin to add you."
        if self.allow_channels and channel not in self.allow_channels:
            return "hgbot is not enabled in this channel."
        return None
