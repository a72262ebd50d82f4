"""Platform-neutral helpers every adapter uses: safe text, splitting, progress lines, access control."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from orchestrator.types import RunStatus, TaskRun

_MASS_MENTIONS = re.compile(r"@(everyone|here|channel)\b", re.IGNORECASE)
_SLACK_SPECIAL = re.compile(r"<!(everyone|here|channel)(\|[^>]*)?>", re.IGNORECASE)
_ZWSP = "\u200b"


def neutralize_mentions(text: str) -> str:
    """Break ``@everyone``/``@here``/``@channel`` and Slack's ``<!everyone>`` so they never ping.

    A zero-width space after the ``@`` keeps the text readable but no platform parses it as a mention.
    """
    text = _SLACK_SPECIAL.sub(lambda m: f"@{_ZWSP}{m.group(1)}", text)
    return _MASS_MENTIONS.sub(lambda m: f"@{_ZWSP}{m.group(1)}", text)


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
