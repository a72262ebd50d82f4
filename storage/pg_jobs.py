"""Job, job-owner and usage tables of ``PostgresStore`` (a mixin, like ``storage.jobs`` for SQLite).

Every state change is one conditional ``UPDATE`` in a transaction, so replicas racing for the same
job (one adopting it while another cancels it) see exactly one winner.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from orchestrator.jobtypes import JobRecord, JobState, UsageRecord
from orchestrator.store import USAGE_GROUPS, OwnerRecord, UsageTotal
from orchestrator.types import ConversationKey

from .jobrows import job_record, usage_total

if TYPE_CHECKING:
    import asyncpg

_JOB_COLUMNS = ('id, platform, workspace, channel, thread, "user", text, payload, state, owner, error, '
                "created, started, finished")

JOBS_MIGRATION = """
    CREATE TABLE jobs (
        id BIGSERIAL PRIMARY KEY, platform TEXT NOT NULL, workspace TEXT NOT NULL DEFAULT '',
        channel TEXT NOT NULL DEFAULT '', thread TEXT NOT NULL DEFAULT '', "user" TEXT NOT NULL DEFAULT '',
        text TEXT NOT NULL, payload TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
        owner TEXT NOT NULL DEFAULT '', error TEXT, notified BOOLEAN NOT NULL DEFAULT FALSE,
        created DOUBLE PRECISION NOT NULL, started DOUBLE PRECISION, finished DOUBLE PRECISION);
    CREATE INDEX jobs_by_state ON jobs (state, owner);
    CREATE INDEX jobs_by_thread ON jobs (platform, channel, thread, id);
    CREATE TABLE job_owners (id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
        heartbeat DOUBLE PRECISION NOT NULL, started DOUBLE PRECISION NOT NULL);
    CREATE TABLE usage (
        id BIGSERIAL PRIMARY KEY, job_id BIGINT, platform TEXT NOT NULL DEFAULT '', "user" TEXT NOT NULL DEFAULT '',
        channel TEXT NOT NULL DEFAULT '', task TEXT NOT NULL, model TEXT NOT NULL DEFAULT '',
        device TEXT NOT NULL DEFAULT '', seconds DOUBLE PRECISION NOT NULL,
        load_seconds DOUBLE PRECISION NOT NULL DEFAULT 0, created DOUBLE PRECISION NOT NULL);
    CREATE INDEX usage_by_time ON usage (created);
"""

# a stop that reached another replica, for the job's owner to act on
CANCEL_MIGRATION = "ALTER TABLE jobs ADD COLUMN cancel_by TEXT;"


class PgJobTables:
    """``orchestrator.jobs.JobStore`` on Postgres; ``PostgresStore`` provides ``_conn``/``_tx``."""

    def _conn(self, doing: str) -> AbstractAsyncContextManager[asyncpg.Connection]:
        raise NotImplementedError

    def _tx(self, doing: str) -> AbstractAsyncContextManager[asyncpg.Connection]:
        raise NotImplementedError

    async def register_owner(self, owner: str, host: str, pid: int) -> None:
        now = time.time()
        async with self._conn(f"registering job owner {owner}") as db:
            await db.execute("INSERT INTO job_owners (id, host, pid, heartbeat, started) VALUES ($1, $2, $3, $4, $5) "
                             "ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, "
                             "heartbeat = EXCLUDED.heartbeat, started = EXCLUDED.started", owner, host, pid, now, now)

    async def heartbeat(self, owner: str) -> None:
        async with self._conn(f"heartbeat of {owner}") as db:
            await db.execute("UPDATE job_owners SET heartbeat = $1 WHERE id = $2", time.time(), owner)

    async def job_owners(self) -> list[OwnerRecord]:
        async with self._conn("listing job owners") as db:
            rows = [OwnerRecord(str(r[0]), str(r[1]), int(r[2]), float(r[3]))
                    for r in await db.fetch("SELECT id, host, pid, heartbeat FROM job_owners")]
            listed = {r.id for r in rows}
            named = await db.fetch("SELECT DISTINCT owner FROM jobs WHERE state IN ('queued', 'running')")
        return rows + [OwnerRecord(str(r[0]), "", 0, 0.0) for r in named if r[0] not in listed]

    async def add_job(self, key: ConversationKey, *, user: str, text: str, payload: dict[str, Any],
                      owner: str, delivery_id: str | None = None) -> int | None:
        """Insert a queued job, claiming ``delivery_id`` in the same transaction (None: claimed before)."""
        async with self._tx("recording a job") as db:
            if delivery_id is not None:
                won = await db.fetchval("INSERT INTO deliveries (id, created) VALUES ($1, $2) "
                                        "ON CONFLICT (id) DO NOTHING RETURNING 1", delivery_id, time.time())
                if won is None:
                    return None
            job_id = await db.fetchval(
                'INSERT INTO jobs (platform, workspace, channel, thread, "user", text, payload, state, owner, created) '
                "VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $9) RETURNING id",
                key.platform, key.workspace, key.channel, key.thread, user, text,
                json.dumps(payload, ensure_ascii=False, default=str), owner, time.time())
        return int(job_id)

    async def set_job_thread(self, job_id: int, thread: str) -> None:
        async with self._conn(f"updating job {job_id}") as db:
            await db.execute("UPDATE jobs SET thread = $1 WHERE id = $2", thread, job_id)

    async def start_job(self, job_id: int, owner: str) -> bool:
        async with self._conn(f"starting job {job_id}") as db:
            done = await db.execute("UPDATE jobs SET state = 'running', started = $1 "
                                    "WHERE id = $2 AND state = 'queued' AND owner = $3", time.time(), job_id, owner)
        return bool(done.endswith(" 1"))

    async def end_job(self, job_id: int, state: JobState, error: str | None = None) -> bool:
        if not state.final:
            raise ValueError(f"{state} is not a final state")
        async with self._tx(f"ending job {job_id}") as db:
            done = await db.execute("UPDATE jobs SET state = $1, error = $2, finished = $3 "
                                    "WHERE id = $4 AND state IN ('queued', 'running')",
                                    state.value, error, time.time(), job_id)
            ended = bool(done.endswith(" 1"))
            if ended and state is not JobState.DONE:
                await _close_runs(db, [job_id], state.value)
        return ended

    async def adopt_jobs(self, dead: Sequence[str], owner: str,
                         platforms: Iterable[str]) -> tuple[list[JobRecord], list[JobRecord]]:
        if not dead:
            return [], []
        dead, plats, now = list(dead), list(platforms), time.time()
        async with self._tx("adopting the jobs of stopped processes") as db:
            interrupted = [int(r[0]) for r in await db.fetch(
                "UPDATE jobs SET state = 'interrupted', finished = $1, error = 'interrupted' "
                "WHERE state = 'running' AND owner = ANY($2::text[]) RETURNING id", now, dead)]
            await _close_runs(db, interrupted, JobState.INTERRUPTED.value)
            adopted = [int(r[0]) for r in await db.fetch(
                "UPDATE jobs SET owner = $1 WHERE state = 'queued' AND owner = ANY($2::text[]) "
                "AND platform = ANY($3::text[]) RETURNING id", owner, dead, plats)]
            left = await db.fetchval("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running') "
                                     "AND owner = ANY($1::text[])", dead)
            if not left:  # keep an owner row while another platform's queued jobs still name it
                await db.execute("DELETE FROM job_owners WHERE id = ANY($1::text[])", dead)
            return await _jobs_by_id(db, sorted(interrupted)), await _jobs_by_id(db, sorted(adopted))

    async def unnotified_jobs(self, platforms: Iterable[str]) -> list[JobRecord]:
        async with self._conn("listing interrupted jobs") as db:
            rows = await db.fetch(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state = 'interrupted' AND NOT notified "
                                  "AND platform = ANY($1::text[]) ORDER BY id", list(platforms))
        return [job_record(r) for r in rows]

    async def mark_notified(self, job_id: int) -> None:
        async with self._conn(f"marking job {job_id} notified") as db:
            await db.execute("UPDATE jobs SET notified = TRUE WHERE id = $1", job_id)

    async def get_job(self, job_id: int) -> JobRecord | None:
        async with self._conn(f"reading job {job_id}") as db:
            rows = await _jobs_by_id(db, [job_id])
        return rows[0] if rows else None

    async def latest_job(self, key: ConversationKey) -> JobRecord | None:
        async with self._conn(f"reading the latest job of {key}") as db:
            row = await db.fetchrow(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE platform = $1 AND channel = $2 "
                                    "AND thread = $3 ORDER BY id DESC LIMIT 1", key.platform, key.channel, key.thread)
        return job_record(row) if row else None

    async def active_job(self, key: ConversationKey) -> JobRecord | None:
        async with self._conn(f"reading the job in flight in {key}") as db:
            row = await db.fetchrow(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE platform = $1 AND channel = $2 "
                                    "AND thread = $3 AND state IN ('queued', 'running') ORDER BY id DESC LIMIT 1",
                                    key.platform, key.channel, key.thread)
        return job_record(row) if row else None

    async def active_job_of(self, user: str, channel: str) -> JobRecord | None:
        async with self._conn(f"reading the job of {user} in flight in {channel}") as db:
            row = await db.fetchrow(f'SELECT {_JOB_COLUMNS} FROM jobs WHERE "user" = $1 AND channel = $2 '
                                    "AND state IN ('queued', 'running') ORDER BY id DESC LIMIT 1", user, channel)
        return job_record(row) if row else None

    async def request_cancel(self, job_id: int, by: str) -> bool:
        async with self._conn(f"asking to cancel job {job_id}") as db:
            done = await db.execute("UPDATE jobs SET cancel_by = $1 WHERE id = $2 AND state IN ('queued', 'running')",
                                    by, job_id)
        return bool(done.endswith(" 1"))

    async def cancel_requests(self, owner: str) -> dict[int, str]:
        async with self._conn("reading cancel requests") as db:
            rows = await db.fetch("SELECT id, cancel_by FROM jobs WHERE owner = $1 AND state IN ('queued', 'running') "
                                  "AND cancel_by IS NOT NULL ORDER BY id", owner)
        return {int(r[0]): str(r[1]) for r in rows}

    async def job_counts(self) -> dict[str, int]:
        async with self._conn("counting jobs") as db:
            rows = await db.fetch("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        return {str(r[0]): int(r[1]) for r in rows}

    async def add_usage(self, record: UsageRecord) -> None:
        async with self._conn("recording usage") as db:
            await db.execute(
                'INSERT INTO usage (job_id, platform, "user", channel, task, model, device, seconds, load_seconds, '
                "created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", record.job_id, record.platform,
                record.user, record.channel, record.task, record.model, record.device, float(record.seconds),
                float(record.load_seconds), time.time())

    async def usage_seconds(self, since: float, *, user: str | None = None, channel: str | None = None) -> float:
        async with self._conn("summing usage") as db:
            value = await db.fetchval(
                'SELECT COALESCE(SUM(seconds), 0) FROM usage WHERE created >= $1 AND ($2::text IS NULL OR "user" = $2) '
                "AND ($3::text IS NULL OR channel = $3)", since, user, channel)
        return float(value or 0.0)

    async def usage_table(self, since: float, by: str) -> list[UsageTotal]:
        if by not in USAGE_GROUPS:
            raise ValueError(f"by must be user, channel or model, not {by!r}")
        column = f'"{by}"'  # one of three names checked above, never input
        async with self._conn("reading usage") as db:
            rows = await db.fetch(
                f"SELECT {column}, COUNT(*), COUNT(DISTINCT job_id), SUM(seconds), SUM(load_seconds), "
                f"STRING_AGG(DISTINCT device, ',') FROM usage WHERE created >= $1 GROUP BY {column} "
                f"ORDER BY SUM(seconds) DESC, {column}", since)
        return [usage_total(r) for r in rows]


async def _close_runs(db: asyncpg.Connection, job_ids: Sequence[int], status: str) -> None:
    """End the ``running`` run rows of jobs that stopped without finishing them (as ``storage.jobs``)."""
    if not job_ids:
        return
    await db.execute(
        "UPDATE runs SET status = $1, finished = $2 WHERE status = 'running' AND EXISTS ("
        "SELECT 1 FROM jobs j JOIN conversations c ON c.platform = j.platform AND c.workspace = j.workspace "
        "AND c.channel = j.channel AND c.thread = j.thread "
        "WHERE j.id = ANY($3::bigint[]) AND c.id = runs.conversation_id "
        "AND j.started IS NOT NULL AND runs.created >= j.started)", status, time.time(), list(job_ids))


async def _jobs_by_id(db: asyncpg.Connection, ids: Sequence[int]) -> list[JobRecord]:
    if not ids:
        return []
    rows = await db.fetch(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id", list(ids))
    return [job_record(r) for r in rows]

