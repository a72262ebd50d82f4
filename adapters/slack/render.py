"""Text for Slack: Markdown → mrkdwn, safe splitting, captions and status lines.

Everything the bot posts goes through ``to_mrkdwn`` so model output can never ping a channel
(``neutralize_mentions``) nor a user (``<``/``>`` are escaped, so ``<@U123>`` stays text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from adapters.common import neutralize_mentions, progress_lines, split_text
from orchestrator.types import Artifact, Reply, RunStatus, TaskRun

MESSAGE_LIMIT = 3500
"""Characters per message: Slack truncates ``text`` past 4,000 and rejects long blocks with
``msg_too_long``; 3,500 leaves room for the fence that ``split_text`` may add."""

_FENCE = re.compile(r"(```.*?(?:```|\Z))", re.DOTALL)
_INLINE_CODE = re.compile(r"(`[^`\n]+`)")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC_STAR = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[-*+]\s+", re.MULTILINE)


def escape(text: str) -> str:
    """Slack's three control characters; everything we post is escaped once."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """Convert the Markdown an LLM writes into Slack mrkdwn; code spans are kept verbatim."""
    text = escape(neutralize_mentions(markdown))
    parts = _FENCE.split(text)
    # odd indexes are fenced blocks: Slack ignores the language tag, so drop it to keep the code clean
    return "".join(_fence(p) if i % 2 else _inline(p) for i, p in enumerate(parts))


def _fence(block: str) -> str:
    body = block[3:]
    first, nl, rest = body.partition("\n")
    if nl and re.fullmatch(r"[\w+#.-]*", first.strip()):
        body = "\n" + rest
    return "```" + body if body.endswith("```") else "```" + body + "\n```"


def _inline(text: str) -> str:
    pieces = _INLINE_CODE.split(text)
    return "".join(p if i % 2 else _format(p) for i, p in enumerate(pieces))


def _format(text: str) -> str:
    text = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", text)
    text = _HEADING.sub(lambda m: f"\x00{m.group(1)}\x00", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    text = _ITALIC_STAR.sub(lambda m: f"_{m.group(1)}_", text)
    text = _BOLD.sub(lambda m: f"\x00{m.group(2)}\x00", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    # bold is marked with NUL first so the italic pass cannot re-read its asterisks
    return text.replace("\x00", "*")


def chunks(markdown: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The answer as mrkdwn messages of at most ``limit`` characters, never cut inside a code block."""
    text = to_mrkdwn(markdown).strip()
    return split_text(text, limit) if text else []


def caption(artifact: Artifact) -> str:
    """The line posted with an uploaded file: which task made it, with which model."""
    parts = [p for p in (artifact.task, artifact.model) if p]
    return escape(" · ".join(parts)) if parts else "hgbot output"


def steps(runs: Sequence[TaskRun]) -> str:
    return "\n".join(escape(line) for line in progress_lines(runs))


def plan_summary(reply: Reply) -> str:
    """The status message once the job ended: outcome, time, then one line per step."""
    failed = any(r.status is RunStatus.FAILED for r in reply.runs)
    icon = "❌" if reply.error else ("⚠️" if failed else "✅")
    word = "Failed" if reply.error else "Done"
    n = len(reply.runs)
    head = f"{icon} {word} in {reply.seconds:.1f}s" + (f" · {n} step{'s' if n != 1 else ''}" if n else "")
    if reply.run_id is not None:
        head += f" · run {reply.run_id}"
    body = steps(reply.runs)
    return f"{head}\n{body}" if body else head


def preview(runs: Sequence[TaskRun], streamed: str, limit: int = MESSAGE_LIMIT) -> str:
    """The status message while the job runs: the steps, then the answer streamed so far (capped)."""
    head = f"🧠 *Plan* ({len(runs)} step{'s' if len(runs) != 1 else ''})\n{steps(runs)}" if runs else "🧠 Thinking…"
    if not streamed:
        return head
    text = to_mrkdwn(streamed)
    room = limit - len(head) - 4
    if len(text) > room:
        text = "…" + text[-max(room, 0):]
    if text.count("```") % 2:
        text += "\n```"  # the cut (or the stream itself) left a fence open
    return f"{head}\n\n{text}"


def button(label: str, action_id: str, job_id: int) -> dict[str, Any]:
    """A Block Kit button whose value is the job id (Cancel on the status message, Retry on a notice)."""
    return {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id,
            "value": str(job_id), **({"style": "danger"} if label == "Cancel" else {})}
