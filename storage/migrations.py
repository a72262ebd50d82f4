"""Schema versions of the hgbot database, applied in order at open.

The version lives in ``PRAGMA user_version`` (0 for a new file). Opening a database runs every
step whose version is above it, all inside one ``BEGIN IMMEDIATE`` transaction, so two processes
opening the same old file at once migrate it exactly once: the second waits for the write lock,
then sees the new version and has nothing to do.

To change the schema, append a ``Migration`` with the next version; never edit a released one.
Steps are single SQL statements (not scripts) because ``sqlite3.executescript`` commits first,
which would break the one-transaction guarantee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from orchestrator.errors import StorageError


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "conversations, messages, runs, artifacts", (
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            workspace TEXT NOT NULL DEFAULT '',
            channel TEXT NOT NULL DEFAULT '',
            thread TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            UNIQUE (platform, workspace, channel, thread)
        )""",
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            request TEXT NOT NULL,
            status TEXT NOT NULL,
            plan TEXT,
            tasks TEXT NOT NULL DEFAULT '[]',
            error TEXT,
            seconds REAL NOT NULL DEFAULT 0,
            llm_calls INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL,
            finished REAL
        )""",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            text TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id),
            created REAL NOT NULL
        )""",
        "CREATE INDEX messages_by_conversation ON messages (conversation_id, id)",
        """CREATE TABLE artifacts (
            id TEXT PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            kind TEXT NOT NULL CHECK (kind IN ('text', 'image', 'audio', 'video')),
            mime TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            path TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            task TEXT,
            model TEXT,
            filename TEXT NOT NULL DEFAULT '',
            run_id INTEGER REFERENCES runs(id),
            created REAL NOT NULL
        )""",
        "CREATE INDEX artifacts_by_conversation ON artifacts (conversation_id, created)",
        "CREATE INDEX runs_by_conversation ON runs (conversation_id, id)",
    )),
    Migration(2, "deliveries: platform event ids seen, so retried events run once", (
        """CREATE TABLE deliveries (
            id TEXT PRIMARY KEY,
            created REAL NOT NULL
        )""",
        "CREATE INDEX deliveries_by_age ON deliveries (created)",
    )),
    Migration(3, "jobs (durable requests with an owner), job owners (heartbeats), usage per step", (
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            workspace TEXT NOT NULL DEFAULT '',
            channel TEXT NOT NULL DEFAULT '',
            thread TEXT NOT NULL DEFAULT '',
            user TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL,
            payload TEXT NOT NULL DEFAULT '{}',
            state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
            owner TEXT NOT NULL DEFAULT '',
            error TEXT,
            notified INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL,
            started REAL,
            finished REAL
        )""",
        "CREATE INDEX jobs_by_state ON jobs (state, owner)",
        "CREATE INDEX jobs_by_thread ON jobs (platform, channel, thread, id)",
        """CREATE TABLE job_owners (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            heartbeat REAL NOT NULL,
            started REAL NOT NULL
        )""",
        """CREATE TABLE usage (
            id INTEGER PRIMARY KEY,
            job_id INTEGER,
            platform TEXT NOT NULL DEFAULT '',
            user TEXT NOT NULL DEFAULT '',
            channel TEXT NOT NULL DEFAULT '',
            task TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            device TEXT NOT NULL DEFAULT '',
            seconds REAL NOT NULL,
            load_seconds REAL NOT NULL DEFAULT 0,
            created REAL NOT NULL
        )""",
        "CREATE INDEX usage_by_time ON usage (created)",
    )),
    Migration(4, "jobs.cancel_by: a stop that reached another replica, for the job's owner to act on", (
        "ALTER TABLE jobs ADD COLUMN cancel_by TEXT",
    )),
)

LATEST = MIGRATIONS[-1].version


async def schema_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def migrate(conn: aiosqlite.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database up to the last of ``migrations``; return the version it ends at.

    ``conn`` must be in autocommit mode (``isolation_level=None``): this function owns the
    transaction. Raises ``StorageError`` when the file was written by a newer hgbot (its version
    is above every known step), since running old code on a newer schema could corrupt it.
    """
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration versions must be 1, 2, 3, ... in order; got {versions}")
    target = versions[-1] if versions else 0
    await conn.execute("BEGIN IMMEDIATE")
    try:
        current = await schema_version(conn)
        if current > target:
            raise StorageError(
                f"The database has schema version {current}, but this hgbot knows only up to {target}.",
                hint="Upgrade hgbot, or point HGBOT_HOME at another directory.",
            )
        for step in migrations:
            if step.version <= current:
                continue
            for statement in step.statements:
                await conn.execute(statement)
            # PRAGMA cannot take parameters; the version is an int we own, not input.
            await conn.execute(f"PRAGMA user_version = {int(step.version)}")
            current = step.version
        await conn.execute("COMMIT")
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    return current
