"""The store ports the orchestrator sees, split by role, with the typed records that cross them.

    ConversationStore   conversations (one per platform/workspace/channel/thread) and their messages
    ArtifactStore       files of a conversation; bytes go to a ``BlobStore``, rows say who owns them
    RunStore            one row per request: how it was planned, what each step did, how it ended
    DeliveryLedger      platform delivery ids, so a retried event is processed once
    ConversationLocks   one turn at a time per conversation, across every process sharing the store
    Store               all five plus ``stats`` and ``close``: what ``bot`` wires in

The job, owner and usage tables are ``orchestrator.jobs.JobStore``. Implementations:
``storage.SqliteStore`` (default), ``storage.PostgresStore`` (``HGBOT_DATABASE_URL``) and
``storage.MemoryStore`` (tests); ``tests/storage/contract`` holds them all to the same behaviour.

Artifacts resolve only inside their own conversation: ``get_artifact(conv, id)`` raises
``ArtifactNotFound`` for an id that exists but belongs elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from .types import Artifact, ConversationKey, Kind, Message, Plan, TaskRun


@dataclass(frozen=True)
class TaskRecord:
    """One plan step as a run recorded it (outputs are texts and ``artifact:`` handles)."""

    id: int
    task: str
    model: str | None = None
    status: str = "queued"
    seconds: float = 0.0
    error: str | None = None
    outputs: tuple[str, ...] = ()

    @classmethod
    def of(cls, run: TaskRun) -> TaskRecord:
        return cls(id=run.id, task=run.task, model=run.model, status=run.status.value,
                   seconds=round(run.seconds, 3), error=run.error, outputs=tuple(run.outputs_json()))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "task": self.task, "model": self.model, "status": self.status,
                "seconds": self.seconds, "error": self.error, "outputs": list(self.outputs)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskRecord:
        return cls(id=int(data["id"]), task=str(data["task"]), model=data.get("model"),
                   status=str(data.get("status", "")), seconds=float(data.get("seconds") or 0.0),
                   error=data.get("error"), outputs=tuple(str(o) for o in data.get("outputs") or ()))


@dataclass(frozen=True)
class RunRecord:
    """A recorded request. ``plan`` is the plan in its wire form (the plan contract's JSON), or None
    when none was made; ``finished`` is None while the run is going."""

    id: int
    conversation_id: int
    request: str
    status: str
    plan: tuple[dict[str, Any], ...] | None = None
    tasks: tuple[TaskRecord, ...] = ()
    error: str | None = None
    seconds: float | None = None
    llm_calls: int | None = None
    created: float = 0.0
    finished: float | None = None


@dataclass(frozen=True)
class StoreStats:
    """Row counts for ``hgbot doctor``; ``blob_bytes`` counts each distinct blob once."""

    conversations: int = 0
    messages: int = 0
    runs: int = 0
    runs_failed: int = 0
    artifacts: int = 0
    blob_bytes: int = 0
    deliveries: int = 0
    schema_version: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        return {**out, **self.extra}


class ConversationStore(Protocol):
    async def conversation(self, key: ConversationKey) -> int:
        """The id of the conversation, created on first use (one id per key, even under races)."""
        ...

    async def find_conversation(self, key: ConversationKey) -> int | None:
        """The id of the conversation if it exists; never creates one (adapters ask "is this thread ours?")."""
        ...

    async def add_message(self, conversation_id: int, role: str, text: str, run_id: int | None = None) -> None:
        """``role`` is "user" or "assistant" (else ``ValueError``); an unknown conversation is a ``StorageError``."""
        ...

    async def history(self, conversation_id: int, limit: int = 50) -> list[Message]:
        """Up to ``limit`` most recent messages, oldest first."""
        ...


class ArtifactStore(Protocol):
    async def put_artifact(
        self, conversation_id: int, data: bytes, *, kind: Kind, mime: str, suffix: str,
        description: str = "", task: str | None = None, model: str | None = None,
        filename: str = "", run_id: int | None = None,
    ) -> Artifact:
        """Store bytes in the blob store and record them in this conversation under a new short id."""
        ...

    async def get_artifact(self, conversation_id: int, artifact_id: str) -> Artifact:
        """The artifact (``artifact:`` prefix optional) of this conversation; ``ArtifactNotFound`` otherwise."""
        ...

    async def artifacts(self, conversation_id: int) -> list[Artifact]:
        """All artifacts of the conversation, newest first."""
        ...

    async def read_artifact(self, artifact: Artifact) -> bytes:
        """The artifact's bytes, read through the store's blob store (so any replica can read them)."""
        ...


class RunStore(Protocol):
    async def start_run(self, conversation_id: int, request_text: str) -> int: ...

    async def finish_run(self, run_id: int, *, status: str, plan: Plan | None, tasks: Sequence[TaskRun],
                         error: str | None, seconds: float, llm_calls: int) -> None:
        """Record how a run ended; ``StorageError`` for an unknown run id."""
        ...

    async def recent_runs(self, conversation_id: int | None = None, limit: int = 10) -> list[RunRecord]:
        """The last ``limit`` runs, newest first, of one conversation (or of all, for ``None``)."""
        ...


class DeliveryLedger(Protocol):
    async def claim_delivery(self, delivery_id: str) -> bool:
        """Record a platform delivery id; False when it was already recorded. Atomic across replicas."""
        ...

    async def delivery_seen(self, delivery_id: str) -> bool: ...


class ConversationLocks(Protocol):
    def conversation_lock(self, key: ConversationKey) -> AbstractAsyncContextManager[None]:
        """``async with store.conversation_lock(key):`` one turn of the conversation at a time.

        Holders of one key take turns in the order they asked (first come, first served within a
        process; across processes as the implementation says); other keys are not held up. Leaving
        the block, by an exception or cancellation too, releases the lock, and so does the death of
        the holding process: a lock never outlives its holder.
        """
        ...


class Store(ConversationStore, ArtifactStore, RunStore, DeliveryLedger, ConversationLocks, Protocol):
    async def stats(self) -> StoreStats: ...

    async def close(self) -> None: ...
