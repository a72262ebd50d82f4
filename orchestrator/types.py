"""The orchestrator's public data types: frozen dataclasses that adapters and storage share.

No platform SDK type ever appears here; adapters translate their payloads into these.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .blobs import BlobRef

Kind = Literal["text", "image", "audio", "video"]
KINDS: tuple[Kind, ...] = ("text", "image", "audio", "video")
FILE_KINDS: tuple[Kind, ...] = ("image", "audio", "video")

HANDLE_PREFIX = "artifact:"
GENERATED_PREFIX = "<GENERATED>-"


@dataclass(frozen=True)
class ConversationKey:
    """Where a conversation lives: (platform, workspace, channel, thread). Empty strings mean 'none'."""

    platform: str
    workspace: str
    channel: str
    thread: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.platform, self.workspace, self.channel, self.thread) if p)


@dataclass(frozen=True)
class Attachment:
    """A file a user sent with a request, already downloaded by the adapter."""

    filename: str
    data: bytes
    mime: str = ""  # what the platform claimed; the orchestrator sniffs the bytes anyway


@dataclass(frozen=True)
class Request:
    conversation: ConversationKey
    text: str
    attachments: tuple[Attachment, ...] = ()
    user: str = ""
    delivery_id: str | None = None  # platform event id; a repeated id is processed once


@dataclass(frozen=True)
class Artifact:
    """A file stored in one conversation: an attachment or a generated output.

    ``blob`` is the content reference to read through the ``BlobStore`` (any replica, any store).
    ``path`` is a read-only convenience kept for what still needs a local file (backends' inputs,
    the CLI's display): the blob's file in a local blob store; don't rely on it elsewhere.
    """

    id: str
    conversation_id: int
    kind: Kind
    mime: str
    path: Path
    size: int
    description: str = ""
    task: str | None = None
    model: str | None = None
    filename: str = ""
    blob: BlobRef | None = None

    @property
    def handle(self) -> str:
        return f"{HANDLE_PREFIX}{self.id}"


@dataclass(frozen=True)
class Message:
    role: Literal["user", "assistant"]
    text: str


# -- plan argument values ------------------------------------------------------------------------
# The validator parses each plan arg once into one of these; the executor matches on the type and
# never looks at strings again. ``str()`` gives the wire form the LLM and ``--json`` see.


@dataclass(frozen=True)
class LiteralArg:
    """A value written in the plan itself (a prompt, a question, a target language)."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class ArtifactRef:
    """``artifact:<id>``: a file of this conversation (the validator checked that it is one)."""

    id: str

    def __str__(self) -> str:
        return f"{HANDLE_PREFIX}{self.id}"


@dataclass(frozen=True)
class Generated:
    """``<GENERATED>-k``: the output of task ``k``, which is in the task's deps."""

    task_id: int

    def __str__(self) -> str:
        return f"{GENERATED_PREFIX}{self.task_id}"


PlanArg = LiteralArg | ArtifactRef | Generated


@dataclass(frozen=True)
class PlanTask:
    id: int
    task: str
    deps: tuple[int, ...] = ()
    args: dict[str, PlanArg] = field(default_factory=dict)
    model: str | None = None

    def wire_args(self) -> dict[str, str]:
        """The args in the plan contract's string form (``artifact:…``, ``<GENERATED>-k``, literals)."""
        return {key: str(value) for key, value in self.args.items()}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "task": self.task, "deps": list(self.deps), "args": self.wire_args()}
        if self.model:
            out["model"] = self.model
        return out


@dataclass(frozen=True)
class Plan:
    tasks: tuple[PlanTask, ...]
    source: str = "llm"  # "llm", "router" (fast path), "embedded" (rule planner), "chat"

    def to_json(self) -> list[dict[str, Any]]:
        return [t.to_json() for t in self.tasks]


@dataclass(frozen=True)
class TextOutput:
    text: str
    kind: Kind = "text"


@dataclass(frozen=True)
class FileOutput:
    """A file produced by a model, before it is stored as an artifact."""

    kind: Kind
    data: bytes
    mime: str
    suffix: str  # ".png", ".wav", ...
    description: str = ""


Output = TextOutput | FileOutput


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class TaskRun:
    """The state of one plan task as it executes (mutable: the executor updates it in place)."""

    id: int
    task: str
    model: str | None = None
    status: RunStatus = RunStatus.QUEUED
    seconds: float = 0.0
    error: str | None = None
    texts: list[str] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    started_at: float | None = None  # time.monotonic() when its model started running
    finished_at: float | None = None
    where: str | None = None  # the node that ran it, when the runtime is a cluster (None: this process)

    def outputs_json(self) -> list[str]:
        return [*self.texts, *(a.handle for a in self.artifacts)]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            "model": self.model,
            "status": self.status.value,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "outputs": self.outputs_json(),
            "where": self.where,
        }


@dataclass(frozen=True)
class Reply:
    """The result of one request. ``error`` is set when the request could not be answered at all."""

    text: str
    plan: Plan | None = None
    runs: tuple[TaskRun, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    llm_calls: int = 0
    seconds: float = 0.0
    error: str | None = None
    run_id: int | None = None
    duplicate: bool = False  # the delivery id was seen before; nothing was done
    bad_input: bool = False  # the request itself was refused (a file or link that cannot be used)

    @property
    def ok(self) -> bool:
        return self.error is None


class EventType(enum.StrEnum):
    PLANNED = "planned"  # plan is known; runs are queued
    TASK = "task"  # a task changed state
    DELTA = "delta"  # a chunk of the streamed answer
    DONE = "done"  # the reply is final


@dataclass(frozen=True)
class ProgressEvent:
    type: EventType
    runs: tuple[TaskRun, ...] = ()
    text: str = ""  # for DELTA: the new chunk
    reply: Reply | None = None


ProgressCallback = Callable[[ProgressEvent], Awaitable[None]]
