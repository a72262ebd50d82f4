"""``PostgresStore``: the ``orchestrator.store.Store`` on PostgreSQL, for several replicas.

Chosen by ``HGBOT_DATABASE_URL=postgresql://…`` (asyncpg, a small pool). Artifact bytes go to a
``BlobStore`` (S3 when replicas run on different hosts). What makes replicas safe:

* A delivery is claimed by one ``INSERT … ON CONFLICT DO NOTHING``: the database decides, so two
  replicas given the same platform event answer it once.
* ``conversation_lock(key)`` holds a Postgres advisory lock on the conversation for one turn, so
  replicas take one turn at a time per conversation (a process lock would only cover one replica).
  Each holder and waiter has a connection of a separate lock pool: a turn's own queries never
  wait behind lock waiters, and the server queues waiters first come, first served.
* Migrations run under a transaction-level advisory lock: replicas starting together migrate once.

Every ``asyncpg`` error leaves as ``StorageError`` with a sentence saying what was being done.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.blobs import BlobRef, BlobStore
from orchestrator.errors import ConfigError, StorageError
from orchestrator.store import RunRecord, StoreStats, TaskRecord
from orchestrator.types import HANDLE_PREFIX, Artifact, ConversationKey, Kind, Message, Plan, TaskRun

from .blobs import bare_artifact_id, found_artifact, new_artifact_suffix, read_artifact_bytes
from .cached import localise
from .ids import ROLES, new_artifact_id
from .locks import lock_name
from .pg_jobs import CANCEL_MIGRATION, JOBS_MIGRATION, PgJobTables

if TYPE_CHECKING:
    import asyncpg

    from orchestrator.store import JobStore, Store

_MIGRATION_LOCK = 0x68676274  # "hgbt": one advisory lock id for schema changes
DELIVERY_TTL_S = 30 * 24 * 3600

# Each entry moves the schema one version up; never edit one that has shipped, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE conversations (
        id BIGSERIAL PRIMARY KEY, platform TEXT NOT NULL, workspace TEXT NOT NULL, channel TEXT NOT NULL,
        thread TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, UNIQUE (platform, workspace, channel, thread));
    CREATE TABLE runs (
        id BIGSERIAL PRIMARY KEY, conversation_id BIGINT NOT NULL REFERENCES conversations (id),
        request TEXT NOT NULL, status TEXT NOT NULL, plan TEXT, tasks TEXT, error TEXT,
        seconds DOUBLE PRECISION, llm_calls INTEGER, created DOUBLE PRECISION NOT NULL, finished DOUBLE PRECISION);
    CREATE TABLE messages (
        id BIGSERIAL PRIMARY KEY, conversation_id BIGINT NOT NULL REFERENCES conversations (id),
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')), text TEXT NOT NULL,
        run_id BIGINT REFERENCES runs (id), created DOUBLE PRECISION NOT NULL);
    CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
    CREATE TABLE artifacts (
        seq BIGSERIAL, id TEXT PRIMARY KEY, conversation_id BIGINT NOT NULL REFERENCES conversations (id),
        kind TEXT NOT NULL, mime TEXT NOT NULL, sha256 TEXT NOT NULL, size BIGINT NOT NULL, path TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '', task TEXT, model TEXT, filename TEXT NOT NULL DEFAULT '',
        run_id BIGINT REFERENCES runs (id), created DOUBLE PRECISION NOT NULL);
    CREATE INDEX artifacts_by_conversation ON artifacts (conversation_id, seq);
    CREATE TABLE deliveries (id TEXT PRIMARY KEY, created DOUBLE PRECISION NOT NULL);
    """,
    JOBS_MIGRATION,
    CANCEL_MIGRATION,
)
LATEST = len(MIGRATIONS)
_ARTIFACT_COLUMNS = "id, conversation_id, kind, mime, path, size, description, task, model, filename"


class PostgresStore(PgJobTables):
    """Conversations, messages, runs, artifacts and deliveries in Postgres; bytes in ``blobs``.

    Build with ``await PostgresStore.open(url, blobs)``; ``close()`` when done.
    """

    def __init__(self, pool: asyncpg.Pool, blobs: BlobStore, artifacts_dir: Path,
                 lock_pool: asyncpg.Pool | None = None) -> None:
        self._pool: asyncpg.Pool | None = pool
        self._lock_pool = lock_pool if lock_pool is not None else pool
        self.blobs = blobs
        self.artifacts_dir = artifacts_dir

    @classmethod
    async def open(cls, url: str, blobs: BlobStore, *, artifacts_dir: Path | None = None,
                   pool_size: int = 5, lock_connections: int = 16) -> PostgresStore:
        """Connect, migrate, drop month-old delivery ids. ``artifacts_dir`` only names ``Artifact.path``
        for a local blob store (the read-only convenience); it is never written here.
        ``lock_connections`` caps the turns of this replica holding or waiting for a conversation
        lock at once (the job queue keeps far fewer running); more wait for a lock connection."""
        try:
            import asyncpg
        except ImportError as exc:
            raise ConfigError("HGBOT_DATABASE_URL=postgresql://… needs asyncpg: pip install -e '.[scale]' in "
                              "the hgbot checkout.") from exc
        try:
            pool = await asyncpg.create_pool(url, min_size=min(2, pool_size), max_size=pool_size)
            # Lock connections are their own pool: turns waiting for a busy conversation must not take
            # the connections that the turn holding it needs to finish (it would wait for them forever).
            lock_pool = await asyncpg.create_pool(url, min_size=0, max_size=max(lock_connections, 1))
        except (OSError, asyncpg.PostgresError) as exc:
            raise StorageError(f"Cannot connect to the database: {exc}.") from exc
        store = cls(pool, blobs, Path(artifacts_dir or "/nonexistent/hgbot-artifacts"), lock_pool)
        try:
            async with store._tx("migrating the schema") as db:
                await db.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                await migrate(db)
                await db.execute("DELETE FROM deliveries WHERE created < $1", time.time() - DELIVERY_TTL_S)
        except BaseException:
            await pool.close()
            await lock_pool.close()
            raise
        return store

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
            if self._lock_pool is not pool:
                await self._lock_pool.close()

    # -- connections --------------------------------------------------------------------------

    @asynccontextmanager
    async def _conn(self, doing: str) -> AsyncIterator[asyncpg.Connection]:
        import asyncpg

        if self._pool is None:
            raise StorageError("The store is closed.")
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except asyncpg.ForeignKeyViolationError as exc:
            raise StorageError(f"Database error while {doing}: it refers to a conversation or run that "
                               "does not exist.") from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StorageError(f"Database error while {doing}: {exc}.") from exc

    @asynccontextmanager
    async def _tx(self, doing: str) -> AsyncIterator[asyncpg.Connection]:
        async with self._conn(doing) as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def conversation_lock(self, key: ConversationKey) -> AsyncIterator[None]:
        """One turn at a time per conversation across every replica on this database.

        A session advisory lock on a 64-bit hash of the key, held on a connection of the lock pool
        for the turn; if the replica dies the connection closes and Postgres releases the lock.
        Every waiter waits in the server's queue (no lock in this process first), so turns of one
        conversation run in the order they reached the database, whichever replica they are on."""
        import asyncpg

        if self._pool is None:
            raise StorageError("The store is closed.")
        name, doing = lock_name(key), f"waiting for conversation {key}"
        try:
            conn = await self._lock_pool.acquire()
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StorageError(f"Database error while {doing}: {exc}.") from exc
        try:
            try:
                await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", name)
            except BaseException as exc:
                # Cancelled (or cut off) while waiting: the server may have granted the lock as the
                # cancel went out. A closed session holds nothing, so close this one rather than guess.
                conn.terminate()
                if isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
                    raise StorageError(f"Database error while {doing}: {exc}.") from exc
                raise
            try:
                yield  # the turn: its own errors pass through untouched
            finally:
                try:
                    await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", name)
                except BaseException as exc:
                    conn.terminate()  # which releases the lock: the turn itself is done, so no error
                    if not isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
                        raise
        finally:
            await self._lock_pool.release(conn)

    # -- conversations and messages --------------------------------------------------------------

    async def conversation(self, key: ConversationKey) -> int:
        async with self._conn(f"opening conversation {key}") as db:
            row = await db.fetchrow(
                "INSERT INTO conversations (platform, workspace, channel, thread, created) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (platform, workspace, channel, thread) DO UPDATE SET platform = EXCLUDED.platform "
                "RETURNING id", key.platform, key.workspace, key.channel, key.thread, time.time())
        assert row is not None  # DO UPDATE returns the row whether it was new or not
        return int(row["id"])

    async def find_conversation(self, key: ConversationKey) -> int | None:
        async with self._conn(f"looking up conversation {key}") as db:
            value = await db.fetchval(
                "SELECT id FROM conversations WHERE platform = $1 AND workspace = $2 AND channel = $3 AND thread = $4",
                key.platform, key.workspace, key.channel, key.thread)
        return None if value is None else int(value)

    async def add_message(self, conversation_id: int, role: str, text: str, run_id: int | None = None) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        async with self._conn(f"saving a message in conversation {conversation_id}") as db:
            await db.execute("INSERT INTO messages (conversation_id, role, text, run_id, created) "
                             "VALUES ($1, $2, $3, $4, $5)", conversation_id, role, text, run_id, time.time())

    async def history(self, conversation_id: int, limit: int = 50) -> list[Message]:
        if limit <= 0:
            return []
        async with self._conn(f"reading the history of conversation {conversation_id}") as db:
            rows = await db.fetch("SELECT role, text FROM (SELECT id, role, text FROM messages WHERE conversation_id = $1 "
                                  "ORDER BY id DESC LIMIT $2) AS latest ORDER BY id ASC", conversation_id, limit)
        return [Message(role=r["role"], text=r["text"]) for r in rows]

    # -- artifacts ------------------------------------------------------------------------------

    async def put_artifact(
        self, conversation_id: int, data: bytes, *, kind: Kind, mime: str, suffix: str,
        description: str = "", task: str | None = None, model: str | None = None,
        filename: str = "", run_id: int | None = None,
    ) -> Artifact:
        """Blob first, then the row: a crash between leaves an unreferenced blob, never a dangling row."""
        import asyncpg

        suffix = new_artifact_suffix(kind, suffix)
        if not await self._conversation_exists(conversation_id):
            raise StorageError(f"Database error while recording an artifact in conversation {conversation_id}: "
                               "it refers to a conversation or run that does not exist.")
        ref = await self.blobs.put(data, suffix)
        async with self._conn(f"recording an artifact in conversation {conversation_id}") as db:
            for attempt in range(3):
                artifact_id = new_artifact_id()
                try:
                    await db.execute(
                        "INSERT INTO artifacts (id, conversation_id, kind, mime, sha256, size, path, description, "
                        "task, model, filename, run_id, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                        "$11, $12, $13)", artifact_id, conversation_id, kind, mime, ref.sha256, len(data), ref.key,
                        description, task, model, filename, run_id, time.time())
                    break
                except asyncpg.UniqueViolationError:
                    if attempt == 2:
                        raise
        return self._artifact((artifact_id, conversation_id, kind, mime, ref.key, len(data), description, task,
                               model, filename))

    async def _conversation_exists(self, conversation_id: int) -> bool:
        # checked before the blob upload, so a bad id costs no upload (the foreign key would catch it after)
        async with self._conn(f"looking up conversation {conversation_id}") as db:
            return await db.fetchval("SELECT 1 FROM conversations WHERE id = $1", conversation_id) is not None

    async def read_artifact(self, artifact: Artifact) -> bytes:
        return await read_artifact_bytes(self.blobs, artifact)

    async def get_artifact(self, conversation_id: int, artifact_id: str) -> Artifact:
        bare = bare_artifact_id(artifact_id)
        async with self._conn(f"looking up {HANDLE_PREFIX}{bare}") as db:
            row = await db.fetchrow(f"SELECT {_ARTIFACT_COLUMNS} FROM artifacts WHERE id = $1 AND conversation_id = $2",
                                    bare, conversation_id)
        artifact = await found_artifact(self.blobs, None if row is None else self._artifact(tuple(row)), bare)
        return (await localise(self.blobs, [artifact]))[0]

    async def artifacts(self, conversation_id: int) -> list[Artifact]:
        async with self._conn(f"listing the files of conversation {conversation_id}") as db:
            rows = await db.fetch(f"SELECT {_ARTIFACT_COLUMNS} FROM artifacts WHERE conversation_id = $1 "
                                  "ORDER BY seq DESC", conversation_id)
        return await localise(self.blobs, [self._artifact(tuple(r)) for r in rows])

    def _artifact(self, row: tuple[Any, ...]) -> Artifact:
        return Artifact(id=row[0], conversation_id=int(row[1]), kind=row[2], mime=row[3],
                        path=self.artifacts_dir / row[4], size=int(row[5]), description=row[6] or "",
                        task=row[7], model=row[8], filename=row[9] or "", blob=BlobRef.from_key(row[4], int(row[5])))

    # -- runs and deliveries ----------------------------------------------------------------------

    async def start_run(self, conversation_id: int, request_text: str) -> int:
        async with self._conn(f"starting a run in conversation {conversation_id}") as db:
            value = await db.fetchval("INSERT INTO runs (conversation_id, request, status, created) "
                                      "VALUES ($1, $2, 'running', $3) RETURNING id",
                                      conversation_id, request_text, time.time())
        return int(value)

    async def finish_run(self, run_id: int, *, status: str, plan: Plan | None, tasks: Sequence[TaskRun],
                         error: str | None, seconds: float, llm_calls: int) -> None:
        plan_json = None if plan is None else json.dumps(plan.to_json(), ensure_ascii=False, default=str)
        tasks_json = json.dumps([TaskRecord.of(t).to_json() for t in tasks], ensure_ascii=False, default=str)
        async with self._conn(f"finishing run {run_id}") as db:
            result = await db.execute(
                "UPDATE runs SET status = $1, plan = $2, tasks = $3, error = $4, seconds = $5, llm_calls = $6, "
                "finished = $7 WHERE id = $8", str(status), plan_json, tasks_json, error, float(seconds),
                int(llm_calls), time.time(), run_id)
        if result.endswith(" 0"):
            raise StorageError(f"Cannot finish run {run_id}: there is no such run.")

    async def recent_runs(self, conversation_id: int | None = None, limit: int = 10) -> list[RunRecord]:
        columns = "id, conversation_id, request, status, plan, tasks, error, seconds, llm_calls, created, finished"
        async with self._conn("listing recent runs") as db:
            if conversation_id is None:
                rows = await db.fetch(f"SELECT {columns} FROM runs ORDER BY id DESC LIMIT $1", max(limit, 0))
            else:
                rows = await db.fetch(f"SELECT {columns} FROM runs WHERE conversation_id = $1 ORDER BY id DESC "
                                      "LIMIT $2", conversation_id, max(limit, 0))
        return [
            RunRecord(id=int(r["id"]), conversation_id=int(r["conversation_id"]), request=r["request"],
                      status=r["status"], plan=None if r["plan"] is None else tuple(json.loads(r["plan"])),
                      tasks=tuple(TaskRecord.from_json(t) for t in json.loads(r["tasks"] or "[]")),
                      error=r["error"], seconds=r["seconds"], llm_calls=r["llm_calls"], created=float(r["created"]),
                      finished=r["finished"])
            for r in rows
        ]

    async def claim_delivery(self, delivery_id: str) -> bool:
        """True for exactly one caller per id, across every replica: the primary key decides."""
        async with self._conn(f"recording delivery {delivery_id!r}") as db:
            value = await db.fetchval("INSERT INTO deliveries (id, created) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING "
                                      "RETURNING 1", delivery_id, time.time())
        return value is not None

    async def delivery_seen(self, delivery_id: str) -> bool:
        async with self._conn(f"looking up delivery {delivery_id!r}") as db:
            return await db.fetchval("SELECT 1 FROM deliveries WHERE id = $1", delivery_id) is not None

    async def stats(self) -> StoreStats:
        async with self._conn("counting rows") as db:
            row = await db.fetchrow(
                "SELECT (SELECT COUNT(*) FROM conversations), (SELECT COUNT(*) FROM messages), "
                "(SELECT COUNT(*) FROM runs), (SELECT COUNT(*) FROM runs WHERE status = 'failed'), "
                "(SELECT COUNT(*) FROM artifacts), "
                "(SELECT COALESCE(SUM(size), 0) FROM (SELECT DISTINCT path, size FROM artifacts) AS b), "
                "(SELECT COUNT(*) FROM deliveries), (SELECT MAX(version) FROM hgbot_schema)")
        assert row is not None
        n = [int(v or 0) for v in tuple(row)]
        return StoreStats(n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7])


async def migrate(db: asyncpg.Connection) -> int:
    """Bring the schema to ``LATEST`` (the caller holds the migration lock, inside a transaction)."""
    await db.execute("CREATE TABLE IF NOT EXISTS hgbot_schema (version INTEGER NOT NULL)")
    current = int(await db.fetchval("SELECT COALESCE(MAX(version), 0) FROM hgbot_schema"))
    if current > LATEST:
        raise StorageError(f"The database was written by a newer hgbot (schema {current}); this one knows only "
                           f"{LATEST}. Upgrade hgbot.")
    for version in range(current + 1, LATEST + 1):
        await db.execute(MIGRATIONS[version - 1])
        await db.execute("INSERT INTO hgbot_schema (version) VALUES ($1)", version)
    return LATEST


if TYPE_CHECKING:
    def _conforms(store: PostgresStore) -> tuple[Store, JobStore]:
        return store, store  # mypy proves PostgresStore satisfies both protocols
