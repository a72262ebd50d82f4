"""``SqliteStore``: the ``orchestrator.store.Store`` on one SQLite file plus a blob directory.

Concurrency contract:

* Several processes may use the same database at once (a Slack and a Discord bot sharing a
  home). The file is in WAL mode so readers never block writers; every write is one
  ``BEGIN IMMEDIATE`` transaction, which takes the write lock up front (a deferred transaction
  that upgrades from read to write can fail with SQLITE_BUSY without waiting); and
  ``busy_timeout`` makes a writer wait up to ``BUSY_TIMEOUT_MS`` for another process's lock.
* Within one process the single aiosqlite connection is shared by all coroutines, so an
  ``asyncio.Lock`` serialises statements: SQLite transactions belong to the connection, and
  two coroutines interleaving ``BEGIN``s on it would nest or see each other's uncommitted rows.
* ``conversation_lock(key)`` (one turn at a time per conversation) is an ``asyncio.Lock`` per
  conversation plus an exclusive ``flock`` on a file in ``<database>-turns/`` (``storage.locks``),
  so two processes on one file take turns too; the OS drops a dead process's flock.

Every ``sqlite3.Error`` leaves as ``StorageError`` with a sentence saying what was being done.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from orchestrator.blobs import BlobRef, BlobStore
from orchestrator.errors import StorageError
from orchestrator.store import RunRecord, StoreStats, TaskRecord
from orchestrator.types import HANDLE_PREFIX, Artifact, ConversationKey, Kind, Message, Plan, TaskRun

from .blobs import LocalBlobStore, bare_artifact_id, found_artifact, new_artifact_suffix, read_artifact_bytes
from .cached import localise
from .ids import ROLES, new_artifact_id
from .jobs import JobTables
from .locks import FileLocks
from .migrations import migrate, schema_version

if TYPE_CHECKING:
    from orchestrator.store import Store

BUSY_TIMEOUT_MS = 10_000
DELIVERY_TTL_S = 30 * 24 * 3600  # platforms retry within minutes; a month is plenty
_ARTIFACT_COLUMNS = "id, conversation_id, kind, mime, path, size, description, task, model, filename"


class SqliteStore(JobTables):
    """Conversations, messages, runs, artifacts and delivery ids in SQLite; artifact bytes on disk.

    Build with ``await SqliteStore.open(db_path, artifacts_dir)``; ``close()`` when done.
    Artifact ids are short random strings, not hashes: the same bytes stored in two
    conversations are two artifacts (one blob file), and each resolves only in its own
    conversation.
    """

    def __init__(self, conn: aiosqlite.Connection, db_path: Path, artifacts_dir: Path,
                 blobs: BlobStore | None = None) -> None:
        self._conn: aiosqlite.Connection | None = conn
        self._lock = asyncio.Lock()
        self.db_path = db_path
        self.artifacts_dir = artifacts_dir
        self.blobs: BlobStore = blobs if blobs is not None else LocalBlobStore(artifacts_dir)
        self._turns = FileLocks(db_path.with_name(db_path.name + "-turns"))

    @classmethod
    async def open(cls, db_path: Path, artifacts_dir: Path, blobs: BlobStore | None = None) -> SqliteStore:
        """Open (creating if needed) the database and blob directory, and migrate the schema.

        Artifact bytes go to ``blobs`` (default: a ``LocalBlobStore`` on ``artifacts_dir``)."""
        try:
            db_path, artifacts_dir = await asyncio.to_thread(_prepare_dirs, Path(db_path), Path(artifacts_dir))
        except OSError as exc:
            raise StorageError(f"Cannot create the hgbot data directories: {exc}.") from exc
        conn: aiosqlite.Connection | None = None
        try:
            conn = await _connect(db_path)
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await _enable_wal(conn)
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await migrate(conn)
            await conn.execute("BEGIN IMMEDIATE")
            await conn.execute("DELETE FROM deliveries WHERE created < ?", (time.time() - DELIVERY_TTL_S,))
            await conn.execute("COMMIT")
        except BaseException as exc:
            if conn is not None:
                await conn.close()
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"Cannot open the database {db_path}: {_describe(exc)}.") from exc
            raise
        return cls(conn, db_path, artifacts_dir, blobs)

    async def __aenter__(self) -> SqliteStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection; idempotent. Later calls raise ``StorageError``."""
        conn, self._conn = self._conn, None
        if conn is not None:
            async with self._lock:
                await conn.close()

    def conversation_lock(self, key: ConversationKey) -> AbstractAsyncContextManager[None]:
        return self._turns.hold(key)

    # -- transactions -------------------------------------------------------------------------

    @asynccontextmanager
    async def _read(self, doing: str) -> AsyncIterator[aiosqlite.Connection]:
        """The connection for autocommit reads, with errors turned into ``StorageError``."""
        async with self._lock:
            conn = self._connection()
            try:
                yield conn
            except sqlite3.Error as exc:
                raise StorageError(f"Database error while {doing}: {_describe(exc)}.") from exc

    @asynccontextmanager
    async def _write(self, doing: str) -> AsyncIterator[aiosqlite.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on any exception
        (including cancellation, so a timed-out task never leaves the connection mid-transaction)."""
        async with self._lock:
            conn = self._connection()
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageError(f"Database error while {doing}: {_describe(exc)}.") from exc
            try:
                yield conn
                await conn.execute("COMMIT")
            except BaseException as exc:
                try:
                    await conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # SQLite may already have rolled back (e.g. after SQLITE_FULL)
                if isinstance(exc, sqlite3.Error):
                    raise StorageError(f"Database error while {doing}: {_describe(exc)}.") from exc
                raise

    def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StorageError("The store is closed.")
        return self._conn

    # -- conversations and messages --------------------------------------------------------------

    async def conversation(self, key: ConversationKey) -> int:
        """The id of the conversation, created on first use (upsert then select, one transaction)."""
        async with self._write(f"opening conversation {key}") as db:
            await db.execute(
                "INSERT INTO conversations (platform, workspace, channel, thread, created) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (platform, workspace, channel, thread) DO NOTHING",
                (key.platform, key.workspace, key.channel, key.thread, time.time()),
            )
            async with db.execute(
                "SELECT id FROM conversations WHERE platform = ? AND workspace = ? AND channel = ? "
                "AND thread = ?", (key.platform, key.workspace, key.channel, key.thread),
            ) as cur:
                row = await cur.fetchone()
        assert row is not None  # inserted or already there, inside the same transaction
        return int(row[0])

    async def find_conversation(self, key: ConversationKey) -> int | None:
        async with self._read(f"looking up conversation {key}") as db, db.execute(
            "SELECT id FROM conversations WHERE platform = ? AND workspace = ? AND channel = ? AND thread = ?",
            (key.platform, key.workspace, key.channel, key.thread),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row is not None else None

    async def add_message(self, conversation_id: int, role: str, text: str, run_id: int | None = None) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        async with self._write(f"saving a message in conversation {conversation_id}") as db:
            await db.execute(
                "INSERT INTO messages (conversation_id, role, text, run_id, created) VALUES (?, ?, ?, ?, ?)",
                (conversation_id, role, text, run_id, time.time()),
            )

    async def history(self, conversation_id: int, limit: int = 50) -> list[Message]:
        """Up to ``limit`` most recent messages, oldest first."""
        if limit <= 0:
            return []
        async with self._read(f"reading the history of conversation {conversation_id}") as db:
            async with db.execute(
                "SELECT role, text FROM (SELECT id, role, text FROM messages WHERE conversation_id = ? "
                "ORDER BY id DESC LIMIT ?) ORDER BY id ASC", (conversation_id, limit),
            ) as cur:
                rows = await cur.fetchall()
        return [Message(role=row[0], text=row[1]) for row in rows]

    # -- artifacts ------------------------------------------------------------------------------

    async def put_artifact(
        self, conversation_id: int, data: bytes, *, kind: Kind, mime: str, suffix: str,
        description: str = "", task: str | None = None, model: str | None = None,
        filename: str = "", run_id: int | None = None,
    ) -> Artifact:
        """Store bytes content-addressed under the blob dir and record them in this conversation.

        The blob is written before the row: a crash between the two leaves an unreferenced
        file (harmless), never a row pointing at nothing.
        """
        suffix = new_artifact_suffix(kind, suffix)
        ref = await self.blobs.put(data, suffix)
        sha, rel = ref.sha256, ref.key
        async with self._write(f"recording an artifact in conversation {conversation_id}") as db:
            for attempt in range(3):
                artifact_id = new_artifact_id()
                try:
                    await db.execute(
                        "INSERT INTO artifacts (id, conversation_id, kind, mime, sha256, size, path, "
                        "description, task, model, filename, run_id, created) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (artifact_id, conversation_id, kind, mime, sha, len(data), rel, description,
                         task, model, filename, run_id, time.time()),
                    )
                    break
                except sqlite3.IntegrityError:
                    if attempt == 2 or not await self._id_taken(db, artifact_id):
                        raise  # not an id collision (e.g. unknown conversation): report it
        return Artifact(
            id=artifact_id, conversation_id=conversation_id, kind=kind, mime=mime,
            path=self.artifacts_dir / rel, size=len(data), description=description, task=task,
            model=model, filename=filename, blob=ref,
        )

    @staticmethod
    async def _id_taken(db: aiosqlite.Connection, artifact_id: str) -> bool:
        async with db.execute("SELECT 1 FROM artifacts WHERE id = ?", (artifact_id,)) as cur:
            return await cur.fetchone() is not None

    async def read_artifact(self, artifact: Artifact) -> bytes:
        return await read_artifact_bytes(self.blobs, artifact)

    async def get_artifact(self, conversation_id: int, artifact_id: str) -> Artifact:
        """The artifact ``artifact_id`` (``"artifact:"`` prefix optional) of this conversation.

        Raises ``ArtifactNotFound`` with the same message whether the id is unknown or belongs to
        another conversation, so a handle reveals nothing outside its conversation.
        """
        bare = bare_artifact_id(artifact_id)
        async with self._read(f"looking up {HANDLE_PREFIX}{bare}") as db:
            async with db.execute(
                f"SELECT {_ARTIFACT_COLUMNS} FROM artifacts WHERE id = ? AND conversation_id = ?",
                (bare, conversation_id),
            ) as cur:
                row = await cur.fetchone()
        artifact = await found_artifact(self.blobs, None if row is None else self._artifact(row), bare)
        return (await localise(self.blobs, [artifact]))[0]

    async def artifacts(self, conversation_id: int) -> list[Artifact]:
        """All artifacts of the conversation, newest first."""
        async with self._read(f"listing the files of conversation {conversation_id}") as db:
            async with db.execute(
                f"SELECT {_ARTIFACT_COLUMNS} FROM artifacts WHERE conversation_id = ? "
                "ORDER BY created DESC, rowid DESC", (conversation_id,),
            ) as cur:
                rows = await cur.fetchall()
        return await localise(self.blobs, [self._artifact(row) for row in rows])

    def _artifact(self, row: sqlite3.Row | tuple[Any, ...]) -> Artifact:
        return Artifact(
            id=row[0], conversation_id=int(row[1]), kind=row[2], mime=row[3],
            path=self.artifacts_dir / row[4], size=int(row[5]), description=row[6] or "",
            task=row[7], model=row[8], filename=row[9] or "", blob=BlobRef.from_key(row[4], int(row[5])),
        )

    # -- runs and deliveries ----------------------------------------------------------------------

    async def start_run(self, conversation_id: int, request_text: str) -> int:
        async with self._write(f"starting a run in conversation {conversation_id}") as db:
            cur = await db.execute(
                "INSERT INTO runs (conversation_id, request, status, created) VALUES (?, ?, 'running', ?)",
                (conversation_id, request_text, time.time()),
            )
            run_id = cur.lastrowid
        assert run_id is not None
        return int(run_id)

    async def finish_run(self, run_id: int, *, status: str, plan: Plan | None, tasks: Sequence[TaskRun],
                         error: str | None, seconds: float, llm_calls: int) -> None:
        """Record how a run ended. Raises ``StorageError`` for an unknown run id."""
        plan_json = None if plan is None else json.dumps(plan.to_json(), ensure_ascii=False, default=str)
        tasks_json = json.dumps([TaskRecord.of(t).to_json() for t in tasks], ensure_ascii=False, default=str)
        async with self._write(f"finishing run {run_id}") as db:
            cur = await db.execute(
                "UPDATE runs SET status = ?, plan = ?, tasks = ?, error = ?, seconds = ?, llm_calls = ?, "
                "finished = ? WHERE id = ?",
                (str(status), plan_json, tasks_json, error, float(seconds), int(llm_calls), time.time(), run_id),
            )
            if cur.rowcount == 0:
                raise StorageError(f"Cannot finish run {run_id}: there is no such run.")

    async def claim_delivery(self, delivery_id: str) -> bool:
        """Record a platform delivery id; False when it was already recorded (process once).

        Atomic across processes: the insert and its change count happen in one write transaction.
        """
        async with self._write(f"recording delivery {delivery_id!r}") as db:
            cur = await db.execute(
                "INSERT OR IGNORE INTO deliveries (id, created) VALUES (?, ?)", (delivery_id, time.time()),
            )
            return cur.rowcount == 1

    # -- for `hgbot doctor` -------------------------------------------------------------------------

    async def recent_runs(self, conversation_id: int | None = None, limit: int = 10) -> list[RunRecord]:
        """The last ``limit`` runs, newest first, of one conversation (or of all, for ``None``)."""
        where, params = ("WHERE conversation_id = ?", (conversation_id, limit)) if conversation_id is not None \
            else ("", (limit,))
        async with self._read("listing recent runs") as db:
            async with db.execute(
                "SELECT id, conversation_id, request, status, plan, tasks, error, seconds, llm_calls, "
                f"created, finished FROM runs {where} ORDER BY id DESC LIMIT ?", params,
            ) as cur:
                rows = await cur.fetchall()
        return [
            RunRecord(
                id=int(r[0]), conversation_id=int(r[1]), request=r[2], status=r[3],
                plan=None if r[4] is None else tuple(json.loads(r[4])),
                tasks=tuple(TaskRecord.from_json(t) for t in json.loads(r[5] or "[]")),
                error=r[6], seconds=r[7], llm_calls=r[8], created=float(r[9]), finished=r[10],
            )
            for r in rows
        ]

    async def stats(self) -> StoreStats:
        """Row counts, failed runs, distinct blob bytes and the schema version."""
        queries = {
            "conversations": "SELECT COUNT(*) FROM conversations",
            "messages": "SELECT COUNT(*) FROM messages",
            "runs": "SELECT COUNT(*) FROM runs",
            "runs_failed": "SELECT COUNT(*) FROM runs WHERE status = 'failed'",
            "artifacts": "SELECT COUNT(*) FROM artifacts",
            "blob_bytes": "SELECT COALESCE(SUM(size), 0) FROM (SELECT DISTINCT path, size FROM artifacts)",
            "deliveries": "SELECT COUNT(*) FROM deliveries",
        }
        out: dict[str, int] = {}
        async with self._read("counting rows") as db:
            for name, sql in queries.items():
                async with db.execute(sql) as cur:
                    row = await cur.fetchone()
                out[name] = int(row[0]) if row else 0
            out["schema_version"] = await schema_version(db)
        return StoreStats(out["conversations"], out["messages"], out["runs"], out["runs_failed"],
                          out["artifacts"], out["blob_bytes"], out["deliveries"], out["schema_version"])


async def _connect(db_path: Path) -> aiosqlite.Connection:
    """An autocommit connection (we issue BEGIN IMMEDIATE ourselves) whose worker thread is a daemon.

    aiosqlite's thread is not a daemon, so a process that dies of an unhandled error without
    closing the store hangs at exit instead of exiting (a supervisor would never restart it).
    Dying with the connection open is safe: to SQLite in WAL mode it is the same as a crash.
    """
    pending = aiosqlite.connect(db_path, isolation_level=None)
    thread = getattr(pending, "_thread", None)  # private, so only if this aiosqlite has it
    if isinstance(thread, threading.Thread) and not thread.is_alive():
        thread.daemon = True
    return await pending


def _prepare_dirs(db_path: Path, artifacts_dir: Path) -> tuple[Path, Path]:
    """Absolute paths (Artifact.path must be absolute), with their directories created."""
    db_path = db_path.expanduser().resolve()
    artifacts_dir = artifacts_dir.expanduser().resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    return db_path, artifacts_dir


async def _enable_wal(conn: aiosqlite.Connection) -> None:
    """Switch to WAL (persistent in the file). Retried: when another process is creating the same
    file, the switch can report SQLITE_BUSY without going through the busy handler."""
    for attempt in range(50):
        try:
            async with conn.execute("PRAGMA journal_mode = WAL") as cur:
                row = await cur.fetchone()
            if row is None or str(row[0]).lower() != "wal":
                raise StorageError(f"The database cannot use WAL mode (journal_mode is {row and row[0]}).")
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == 49:
                raise
            await asyncio.sleep(0.1)


def _describe(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"the database stayed locked by another process for over {BUSY_TIMEOUT_MS // 1000} s"
    if "FOREIGN KEY" in text:
        return "it refers to a conversation or run that does not exist"
    return text


if TYPE_CHECKING:
    from orchestrator.store import JobStore

    def _conforms(store: SqliteStore) -> tuple[Store, JobStore]:  # mypy proves SqliteStore satisfies both
        return store, store
