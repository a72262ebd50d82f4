"""In-memory ``Store`` and ``BlobStore``: the fakes beside the ports, for tests.

They follow the same contract as the SQLite and Postgres stores (``tests/storage/contract``), in
one process only: nothing survives ``close()``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.blobs import BlobRef, BlobStore, check_suffix
from orchestrator.errors import StorageError
from orchestrator.store import RunRecord, StoreStats, TaskRecord
from orchestrator.types import Artifact, ConversationKey, Kind, Message, Plan, TaskRun

from .blobs import bare_artifact_id, found_artifact, new_artifact_suffix, read_artifact_bytes, temporary_copy
from .ids import ROLES, new_artifact_id
from .locks import KeyedLocks
from .memory_jobs import JobRows, MemoryJobTables

SCHEMA_VERSION = 0  # nothing to migrate


class MemoryBlobStore:
    """Blobs in a dict; ``local_file`` writes a temporary copy, like a remote store must."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    async def put(self, data: bytes, suffix: str = "") -> BlobRef:
        ref = BlobRef(hashlib.sha256(data).hexdigest(), check_suffix(suffix), len(data))
        self._blobs.setdefault(ref.key, bytes(data))
        return ref

    async def read(self, ref: BlobRef) -> bytes:
        try:
            return self._blobs[ref.key]
        except KeyError:
            raise StorageError(f"The file {ref.key} is missing from the artifact store (memory).") from None

    async def exists(self, ref: BlobRef) -> bool:
        return ref.key in self._blobs

    @asynccontextmanager
    async def local_file(self, ref: BlobRef) -> AsyncIterator[Path]:
        async with temporary_copy(await self.read(ref), ref, "hgbot-blob-") as path:
            yield path

    def describe(self, ref: BlobRef) -> str:
        return f"memory:{ref.key}"

    def forget(self, ref: BlobRef) -> None:
        """Lose a blob (tests of a store whose bytes went missing)."""
        self._blobs.pop(ref.key, None)

    async def close(self) -> None:
        return None


@dataclass
class _Run:
    conversation_id: int
    request: str
    created: float
    status: str = "running"
    plan: str | None = None
    tasks: str = "[]"
    error: str | None = None
    seconds: float | None = None
    llm_calls: int | None = None
    finished: float | None = None


@dataclass
class _Tables:
    conversations: dict[ConversationKey, int] = field(default_factory=dict)
    messages: list[tuple[int, Message]] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    runs: dict[int, _Run] = field(default_factory=dict)
    deliveries: dict[str, float] = field(default_factory=dict)
    jobs: JobRows = field(default_factory=JobRows)


class MemoryStore(MemoryJobTables):
    """``orchestrator.store.Store`` and ``JobStore`` in dicts. Artifact bytes go to ``blobs`` (a ``MemoryBlobStore``
    unless given). Runs and plans are kept as JSON, like the databases, so a record reads back the
    same whichever store wrote it."""

    def __init__(self, blobs: BlobStore | None = None, artifacts_dir: Path | None = None) -> None:
        self.blobs: BlobStore = blobs if blobs is not None else MemoryBlobStore()
        # Artifact.path is a convenience for local files; here it only names the blob
        self.artifacts_dir = artifacts_dir or Path("/nonexistent/hgbot-memory")
        self._t: _Tables | None = _Tables()
        self._turns = KeyedLocks()

    def _tables(self) -> _Tables:
        if self._t is None:
            raise StorageError("The store is closed.")
        return self._t

    async def close(self) -> None:
        self._t = None

    def conversation_lock(self, key: ConversationKey) -> AbstractAsyncContextManager[None]:
        """One turn at a time per conversation, in this process (all a memory store has)."""
        return self._turns.hold(key)

    # -- conversations and messages ------------------------------------------------------------

    async def conversation(self, key: ConversationKey) -> int:
        t = self._tables()
        return t.conversations.setdefault(key, len(t.conversations) + 1)

    async def find_conversation(self, key: ConversationKey) -> int | None:
        return self._tables().conversations.get(key)

    def _check_conversation(self, conversation_id: int) -> None:
        if conversation_id not in self._tables().conversations.values():
            raise StorageError(f"Database error while using conversation {conversation_id}: "
                               "it refers to a conversation or run that does not exist.")

    async def add_message(self, conversation_id: int, role: str, text: str, run_id: int | None = None) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        self._check_conversation(conversation_id)
        self._tables().messages.append((conversation_id, Message(role, text)))  # type: ignore[arg-type]

    async def history(self, conversation_id: int, limit: int = 50) -> list[Message]:
        if limit <= 0:
            return []
        return [m for c, m in self._tables().messages if c == conversation_id][-limit:]

    # -- artifacts -----------------------------------------------------------------------------

    async def put_artifact(
        self, conversation_id: int, data: bytes, *, kind: Kind, mime: str, suffix: str,
        description: str = "", task: str | None = None, model: str | None = None,
        filename: str = "", run_id: int | None = None,
    ) -> Artifact:
        suffix = new_artifact_suffix(kind, suffix)
        self._check_conversation(conversation_id)
        ref = await self.blobs.put(data, suffix)
        t = self._tables()
        taken = {a.id for a in t.artifacts}
        artifact_id = new_artifact_id()
        while artifact_id in taken:
            artifact_id = new_artifact_id()
        artifact = Artifact(id=artifact_id, conversation_id=conversation_id, kind=kind, mime=mime,
                            path=self.artifacts_dir / ref.key, size=len(data), description=description,
                            task=task, model=model, filename=filename, blob=ref)
        t.artifacts.append(artifact)
        return artifact

    async def read_artifact(self, artifact: Artifact) -> bytes:
        return await read_artifact_bytes(self.blobs, artifact)

    async def get_artifact(self, conversation_id: int, artifact_id: str) -> Artifact:
        bare = bare_artifact_id(artifact_id)
        found = next((a for a in self._tables().artifacts
                      if a.id == bare and a.conversation_id == conversation_id), None)
        return await found_artifact(self.blobs, found, bare)

    async def artifacts(self, conversation_id: int) -> list[Artifact]:
        return [a for a in reversed(self._tables().artifacts) if a.conversation_id == conversation_id]

    # -- runs and deliveries ---------------------------------------------------------------------

    async def start_run(self, conversation_id: int, request_text: str) -> int:
        self._check_conversation(conversation_id)
        runs = self._tables().runs
        run_id = len(runs) + 1
        runs[run_id] = _Run(conversation_id, request_text, time.time())
        return run_id

    async def finish_run(self, run_id: int, *, status: str, plan: Plan | None, tasks: Sequence[TaskRun],
                         error: str | None, seconds: float, llm_calls: int) -> None:
        run = self._tables().runs.get(run_id)
        if run is None:
            raise StorageError(f"Cannot finish run {run_id}: there is no such run.")
        run.status, run.error = str(status), error
        run.plan = None if plan is None else json.dumps(plan.to_json(), ensure_ascii=False, default=str)
        run.tasks = json.dumps([TaskRecord.of(t).to_json() for t in tasks], ensure_ascii=False, default=str)
        run.seconds, run.llm_calls, run.finished = float(seconds), int(llm_calls), time.time()

    async def recent_runs(self, conversation_id: int | None = None, limit: int = 10) -> list[RunRecord]:
        runs = [(i, r) for i, r in self._tables().runs.items()
                if conversation_id is None or r.conversation_id == conversation_id]
        return [
            RunRecord(id=i, conversation_id=r.conversation_id, request=r.request, status=r.status,
                      plan=None if r.plan is None else tuple(json.loads(r.plan)),
                      tasks=tuple(TaskRecord.from_json(x) for x in json.loads(r.tasks)), error=r.error,
                      seconds=r.seconds, llm_calls=r.llm_calls, created=r.created, finished=r.finished)
            for i, r in sorted(runs, reverse=True, key=lambda item: item[0])[:max(limit, 0)]
        ]

    async def claim_delivery(self, delivery_id: str) -> bool:
        return self._claim(delivery_id)

    def _claim(self, delivery_id: str) -> bool:
        deliveries = self._tables().deliveries
        if delivery_id in deliveries:
            return False
        deliveries[delivery_id] = time.time()
        return True

    async def delivery_seen(self, delivery_id: str) -> bool:
        return delivery_id in self._tables().deliveries

    # -- what the job tables need (storage.memory_jobs) -----------------------------------------

    def _job_rows(self) -> JobRows:
        return self._tables().jobs

    def _close_runs(self, key: ConversationKey, since: float, status: str) -> None:
        """End the running runs a stopped job left in its conversation (as ``storage.jobs`` does)."""
        t = self._tables()
        conversation_id = t.conversations.get(key)
        for run in t.runs.values():
            if run.conversation_id == conversation_id and run.status == "running" and run.created >= since:
                run.status, run.finished = status, time.time()

    async def stats(self) -> StoreStats:
        t = self._tables()
        blobs = {a.blob.key: a.size for a in t.artifacts if a.blob is not None}
        return StoreStats(
            conversations=len(t.conversations), messages=len(t.messages), runs=len(t.runs),
            runs_failed=sum(1 for r in t.runs.values() if r.status == "failed"), artifacts=len(t.artifacts),
            blob_bytes=sum(blobs.values()), deliveries=len(t.deliveries), schema_version=SCHEMA_VERSION,
        )


if TYPE_CHECKING:
    from orchestrator.store import JobStore, Store

    def _conforms(store: MemoryStore, blobs: MemoryBlobStore) -> tuple[Store, JobStore, BlobStore]:
        return store, store, blobs  # mypy proves they satisfy their protocols
