"""The store ports the orchestrator sees, split by role, with the typed records that cross them.

    ConversationStore   conversations (one per platform/workspace/channel/thread) and their messages
    ArtifactStore       files of a conversation; bytes go to a ``BlobStore``, rows say who owns them
    RunStore            one row per request: how it was planned, what each step did, how it ended
    DeliveryLedger      platform delivery ids, so a retried event is processed once
    ConversationLocks   one turn at a time per conversation, across every process sharing the store
    Store               all five plus ``stats`` and ``close``: what ``bot`` wires in

and, for the durable jobs (``orchestrator.jobs``):

    JobOwners           the processes that run jobs and their heartbeats
    JobTable            job rows: claim once, start, end, adopt a dead owner's, cancel requests
    UsageLedger         device seconds per step, summed per user, channel or model
    JobStore            all three (every ``Store`` implementation is one too)

Implementations:
``storage.SqliteStore`` (default), ``storage.PostgresStore`` (``HGBOT_DATABASE_URL``) and
``storage.MemoryStore`` (tests); ``tests/storage/contract`` holds them all to the same behaviour.

Artifacts resolve only inside their own conversation: ``get_artifact(conv, id)`` raises
``ArtifactNotFound`` for an id that exists but belongs elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from .jobtypes import JobRecord, JobState, UsageRecord
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


@dataclass(frozen=True)
class OwnerRecord:
    """A process that runs jobs and its last heartbeat (Unix time). An owner whose row was removed
    as dead but whose jobs still name it reads back with host "", pid 0 and heartbeat 0."""

    id: str
    host: str
    pid: int
    heartbeat: float


USAGE_GROUPS = ("user", "channel", "model")


@dataclass(frozen=True)
class UsageTotal:
    """Usage summed over one user, channel or model (``group``) for ``hgbot usage``."""

    group: str
    steps: int
    jobs: int
    seconds: float
    load_seconds: float
    devices: tuple[str, ...] = ()  # sorted

    def as_dict(self, by: str) -> dict[str, Any]:
        """The JSON row of ``hgbot usage --json`` (the group under its column name)."""
        return {by: self.group, "steps": self.steps, "jobs": self.jobs, "seconds": self.seconds,
                "load_seconds": self.load_seconds, "devices": ",".join(self.devices)}


class JobOwners(Protocol):
    async def register_owner(self, owner: str, host: str, pid: int) -> None:
        """Record (or re-record) a live owner with a heartbeat of now."""
        ...

    async def heartbeat(self, owner: str) -> None:
        """The owner is alive now; nothing for an owner not registered."""
        ...

    async def job_owners(self) -> list[OwnerRecord]:
        """Every registered owner, plus any owner only named by a queued or running job."""
        ...


class JobTable(Protocol):
    async def add_job(self, key: ConversationKey, *, user: str, text: str, payload: dict[str, Any],
                      owner: str, delivery_id: str | None = None) -> int | None:
        """A queued job; with ``delivery_id`` that delivery is claimed in the same transaction and
        None comes back when it was claimed before (by a job or by ``claim_delivery``)."""
        ...

    async def delivery_seen(self, delivery_id: str) -> bool: ...

    async def set_job_thread(self, job_id: int, thread: str) -> None: ...

    async def start_job(self, job_id: int, owner: str) -> bool:
        """queued → running; False unless the job is queued under ``owner`` (one winner)."""
        ...

    async def end_job(self, job_id: int, state: JobState, error: str | None = None) -> bool:
        """queued/running → ``state`` (final, else ``ValueError``); False when it had ended. A job that
        ends other than done also ends the pipeline's run rows it left running."""
        ...

    async def adopt_jobs(self, dead: Sequence[str], owner: str,
                         platforms: Iterable[str]) -> tuple[list[JobRecord], list[JobRecord]]:
        """Jobs of ``dead`` owners, in one transaction: running ones (any platform) become interrupted,
        queued ones of ``platforms`` move to ``owner``. (newly interrupted, adopted), oldest first;
        a second caller gets only what is left, so each job is taken over once."""
        ...

    async def unnotified_jobs(self, platforms: Iterable[str]) -> list[JobRecord]:
        """Interrupted jobs of ``platforms`` whose thread was not told yet, oldest first."""
        ...

    async def mark_notified(self, job_id: int) -> None: ...

    async def get_job(self, job_id: int) -> JobRecord | None: ...

    async def latest_job(self, key: ConversationKey) -> JobRecord | None:
        """The newest job of the thread (platform, channel, thread), whatever its state."""
        ...

    async def active_job(self, key: ConversationKey) -> JobRecord | None:
        """The newest queued or running job of the thread, on any replica."""
        ...

    async def active_job_of(self, user: str, channel: str) -> JobRecord | None:
        """The user's newest queued or running job in ``channel`` (any thread), on any replica."""
        ...

    async def request_cancel(self, job_id: int, by: str) -> bool:
        """Ask the job's owner to cancel it (``by``: who asked); False when it is not queued or running."""
        ...

    async def cancel_requests(self, owner: str) -> dict[int, str]:
        """Queued or running jobs of ``owner`` whose cancel was requested: job id → who asked."""
        ...

    async def job_counts(self) -> dict[str, int]:
        """Jobs per state (states without jobs left out)."""
        ...


class UsageLedger(Protocol):
    async def add_usage(self, record: UsageRecord) -> None: ...

    async def usage_seconds(self, since: float, *, user: str | None = None, channel: str | None = None) -> float:
        """Device seconds recorded since ``since`` (Unix time), of a user and/or a channel."""
        ...

    async def usage_table(self, since: float, by: str) -> list[UsageTotal]:
        """Totals since ``since`` per ``by`` (one of ``USAGE_GROUPS``, else ``ValueError``), largest first."""
        ...


class JobStore(JobOwners, JobTable, UsageLedger, Protocol):
    """The job, owner and usage tables ``orchestrator.jobs.Jobs`` keeps its jobs in."""
