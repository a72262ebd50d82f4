"""The local terminal adapter: turns a CLI request into a ``Request`` and renders progress with rich.

Progress goes to stderr so that ``--json`` output on stdout stays exactly one JSON object.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markdown import Markdown
from rich.spinner import Spinner
from rich.text import Text

from orchestrator.errors import InputError
from orchestrator.types import (
    Attachment,
    ConversationKey,
    EventType,
    ProgressEvent,
    Reply,
    Request,
    RunStatus,
)

from .common import progress_lines


def conversation_key(channel: str) -> ConversationKey:
    return ConversationKey("cli", "local", channel or "cli", "")


CHAT_COMMANDS = ("/attach PATH", "/files", "/quit")


def check_utf8(value: str, what: str) -> str:
    """``value`` unchanged; InputError when it came from bytes that are not UTF-8 (Python keeps such
    bytes of argv and stdin as lone surrogates, which fail much later, deep in the database)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{what} is not valid UTF-8 (a stray byte at position {exc.start}).",
                         hint="Check the terminal's encoding (a UTF-8 locale) and try again.") from None
    return value


def _printable(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def read_attachments(paths: list[str], max_bytes: int) -> tuple[Attachment, ...]:
    """Read files named on the command line; a missing, empty, oversized or unreadable file is an
    InputError here, before anything starts, so the CLI reports it as bad input (exit 2)."""
    from orchestrator.media import validate_attachment

    out = []
    for name in paths:
        p = Path(name).expanduser()
        shown = _printable(name)
        if not p.is_file():
            raise InputError(f"Cannot attach {shown}: no such file.")
        size = p.stat().st_size
        if size == 0:
            raise InputError(f"Cannot attach {shown}: the file is empty.")
        if size > max_bytes:
            raise InputError(f"Cannot attach {shown}: it is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB.",
                             hint="Raise HGBOT_MAX_FILE_MB to allow bigger files.")
        att = Attachment(filename=_printable(p.name), data=p.read_bytes(), mime=mimetypes.guess_type(p.name)[0] or "")
        validate_attachment(att.filename, att.data, att.mime, max_bytes)  # the orchestrator checks again
        out.append(att)
    return tuple(out)


def build_request(text: str, attach: list[str], channel: str, max_bytes: int) -> Request:
    check_utf8(text, "The request")
    if not text.strip() and not attach:
        raise InputError("Nothing to do: give a request text (and optionally --attach FILE).")
    return Request(conversation=conversation_key(channel), text=text.strip(), attachments=read_attachments(attach, max_bytes),
                   user="cli")


def error_json(message: str) -> dict[str, Any]:
    """The ``--json`` object for a request that never reached the pipeline (bad input, bad config)."""
    return {"reply": message, "plan": [], "runs": [], "artifacts": [], "llm_calls": 0, "seconds": 0.0,
            "error": message}


class TerminalProgress:
    """A live, in-place view of the plan's steps while they run (rich), then the streamed answer."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled and console.is_terminal
        self._live: Live | None = None
        self._runs: tuple[Any, ...] = ()
        self._status = "Planning…"

    def __enter__(self) -> TerminalProgress:
        if self.enabled:
            self._live = Live(self._render(), console=self.console, refresh_per_second=8, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def _render(self) -> Group:
        rows: list[Any] = [Spinner("dots", text=Text(self._status))]
        rows += [Text(line) for line in progress_lines(self._runs)]
        return Group(*rows)

    async def __call__(self, event: ProgressEvent) -> None:
        if event.type in (EventType.PLANNED, EventType.TASK):
            self._runs = event.runs
            running = [r for r in event.runs if r.status is RunStatus.RUNNING]
            self._status = f"Running {', '.join(r.task for r in running)}…" if running else "Working…"
        elif event.type is EventType.DELTA:
            self._status = "Writing the answer…"
        elif not self.enabled and event.type is EventType.DONE:
            return
        if self._live is not None:
            self._live.update(self._render())


def reply_json(reply: Reply) -> dict[str, Any]:
    return {
        "reply": reply.text,
        "plan": reply.plan.to_json() if reply.plan else [],
        "runs": [r.to_json() for r in reply.runs],
        "artifacts": [{"id": a.id, "handle": a.handle, "kind": a.kind, "mime": a.mime, "path": str(a.path.resolve())}
                      for a in reply.artifacts],
        "llm_calls": reply.llm_calls,
        "seconds": round(reply.seconds, 3),
        **({"error": reply.error} if reply.error else {}),
    }


def render_reply(console: Console, reply: Reply) -> None:
    """Print the answer (Markdown rendered on a terminal, as-is when piped), a line per step, and
    where the generated files are."""
    if console.is_terminal and not reply.error:
        console.print(Markdown(reply.text))
    else:
        console.print(reply.text, markup=False, highlight=False)
    if reply.runs and not reply.error:
        console.print()
        for line in progress_lines(reply.runs):
            console.print(line, style="dim", markup=False, highlight=False)
    for a in reply.artifacts:
        console.print(f"📎 {a.kind} from {a.task} ({a.model}): {a.path}", markup=False, highlight=False)
    footer = f"{reply.seconds:.1f}s · {reply.llm_calls} LLM call{'s' if reply.llm_calls != 1 else ''}"
    if reply.plan is not None:
        footer += f" · planned by {reply.plan.source}"
    console.print(footer, style="dim")


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False)
