"""Job, job-owner and usage tables of ``SqliteStore`` (a mixin: the class keeps one connection and lock).

Every state change is one conditional ``UPDATE`` inside ``BEGIN IMMEDIATE``, so two processes
racing for the same job (a restart adopting it while a cancel ends it) see exactly one winner.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiosqlite

from orchestrator.jobtypes import JobRecord, JobState, UsageRecord
from orchestrator.store import USAGE_GROUPS, OwnerRecord, UsageTotal
from orchestrator.types import ConversationKey

from .jobrows import job_record, usage_total

_JOB_COLUMNS = ("id, platform, workspace, channel, thread, user, text, payload, state, owner, error, "
                "created, started, finished")


class JobTables:
    """Methods for ``jobs``, ``job_owners`` and ``usage``; ``SqliteStore`` provides ``_read``/``_write``."""

    def _read(self, doing: str) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError

    def _write(self, doing: str) -> AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError

    # -- owners -------------------------------------------------------------------------------

    async def register_owner(self, owner: str, host: str, pid: int) -> None:
        now = time.time()
        async with self._write(f"registering job owner {owner}") as db:
            await db.execute("INSERT OR REPLACE INTO job_owners (id, host, pid, heartbeat, started) "
                             "VALUES (?, ?, ?, ?, ?)", (owner, host, pid, now, now))

    async def heartbeat(self, owner: str) -> None:
        async with self._write(f"heartbeat of {owner}") as db:
            await db.execute("UPDATE job_owners SET heartbeat = ? WHERE id = ?", (time.time(), owner))

    async def job_owners(self) -> list[OwnerRecord]:
        """Every owner with live jobs or a heartbeat."""
        async with self._read("listing job owners") as db:
            async with db.execute("SELECT id, host, pid, heartbeat FROM job_owners") as cur:
                rows = [OwnerRecord(str(r[0]), str(r[1]), int(r[2]), float(r[3])) for r in await cur.fetchall()]
            async with db.execute("SELECT DISTINCT owner FROM jobs WHERE state IN ('queued', 'running')") as cur:
                listed = {r.id for r in rows}
                # an owner whose row is gone (deleted as dead) but still named by a job: dead too
                rows += [OwnerRecord(str(r[0]), "", 0, 0.0) for r in await cur.fetchall() if r[0] not in listed]
        return rows

    # -- jobs ---------------------------------------------------------------------------------

    async def add_job(self, key: ConversationKey, *, user: str, text: str, payload: dict[str, Any],
                      owner: str, delivery_id: str | None = None) -> int | None:
        """Insert a queued job; with ``delivery_id``, claim that delivery in the same transaction and
        return None when it was claimed before (a process killed between a separate claim and the
        insert would otherwise drop the platform's redelivery as a duplicate: a lost request)."""
        async with self._write("recording a job") as db:
            if delivery_id is not None:
                claimed = await db.execute("INSERT OR IGNORE INTO deliveries (id, created) VALUES (?, ?)",
                                           (delivery_id, time.time()))
                if claimed.rowcount != 1:
                    return None
            cur = await db.execute(
                "INSERT INTO jobs (platform, workspace, channel, thread, user, text, payload, state, owner, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                (key.platform, key.workspace, key.channel, key.thread, user, text,
                 json.dumps(payload, ensure_ascii=False, default=str), owner, time.time()))
            job_id = cur.lastrowid
        assert job_id is not None
        return int(job_id)

    async def set_job_thread(self, job_id: int, thread: str) -> None:
        """A slash command's thread is the message posted after the ack: recorded once known."""
        async with self._write(f"updating job {job_id}") as db:
            await db.execute("UPDATE jobs SET thread = ? WHERE id = ?", (thread, job_id))

    async def start_job(self, job_id: int, owner: str) -> bool:
        """queued → running for ``owner``; False when the job is not queued under that owner any more."""
        async with self._write(f"starting job {job_id}") as db:
            cur = await db.execute("UPDATE jobs SET state = 'running', started = ? "
                                   "WHERE id = ? AND state = 'queued' AND owner = ?", (time.time(), job_id, owner))
            return cur.rowcount == 1

    async def end_job(self, job_id: int, state: JobState, error: str | None = None) -> bool:
        """queued/running → a final state; False when it had already ended."""
        if not state.final:
            raise ValueError(f"{state} is not a final state")
        async with self._write(f"ending job {job_id}") as db:
            cur = await db.execute("UPDATE jobs SET state = ?, error = ?, finished = ? "
                                   "WHERE id = ? AND state IN ('queued', 'running')",
                                   (state.value, error, time.time(), job_id))
            if cur.rowcount == 1 and state is not JobState.DONE:
                await _close_runs(db, [job_id], state.value)
            return cur.rowcount == 1

    async def adopt_jobs(self, dead: Sequence[str], owner: str,
                         platforms: Iterable[str]) -> tuple[list[JobRecord], list[JobRecord]]:
        """Jobs of dead owners: running ones become interrupted (all platforms: no row stays
        ``running`` without a live owner); queued ones of ``platforms`` move to ``owner``.
        Returns (newly interrupted, adopted queued), oldest first."""
        if not dead:
            return [], []
        marks = ",".join("?" * len(dead))
        plats = list(platforms)
        pmarks = ",".join("?" * len(plats)) or "''"
        now = time.time()
        async with self._write("adopting the jobs of stopped processes") as db:
            async with db.execute(f"SELECT id FROM jobs WHERE state = 'running' AND owner IN ({marks})",
                                  tuple(dead)) as cur:
                interrupted = [int(r[0]) for r in await cur.fetchall()]
            await db.execute(f"UPDATE jobs SET state = 'interrupted', finished = ?, error = 'interrupted' "
                             f"WHERE state = 'running' AND owner IN ({marks})", (now, *dead))
            await _close_runs(db, interrupted, JobState.INTERRUPTED.value)
            async with db.execute(f"SELECT id FROM jobs WHERE state = 'queued' AND owner IN ({marks}) "
                                  f"AND platform IN ({pmarks})", (*dead, *plats)) as cur:
                adopted = [int(r[0]) for r in await cur.fetchall()]
            await db.execute(f"UPDATE jobs SET owner = ? WHERE state = 'queued' AND owner IN ({marks}) "
                             f"AND platform IN ({pmarks})", (owner, *dead, *plats))
            async with db.execute(f"SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running') "
                                  f"AND owner IN ({marks})", tuple(dead)) as cur:
                row = await cur.fetchone()
            if not row or not row[0]:  # keep an owner row while another platform's queued jobs still name it
                await db.execute(f"DELETE FROM job_owners WHERE id IN ({marks})", tuple(dead))
            interrupted_rows = await _jobs_by_id(db, interrupted)
            adopted_rows = await _jobs_by_id(db, adopted)
        return interrupted_rows, adopted_rows

    async def unnotified_jobs(self, platforms: Iterable[str]) -> list[JobRecord]:
        """Interrupted jobs whose thread has not been told yet, oldest first."""
        plats = list(platforms)
        async with self._read("listing interrupted jobs") as db:
            async with db.execute(
                    f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state = 'interrupted' AND notified = 0 "
                    f"AND platform IN ({','.join('?' * len(plats)) or chr(39) * 2}) ORDER BY id", tuple(plats)) as cur:
                return [job_record(r) for r in await cur.fetchall()]

    async def mark_notified(self, job_id: int) -> None:
        async with self._write(f"marking job {job_id} notified") as db:
            await db.execute("UPDATE jobs SET notified = 1 WHERE id = ?", (job_id,))

    async def delivery_seen(self, delivery_id: str) -> bool:
        async with self._read(f"looking up delivery {delivery_id!r}") as db, db.execute(
                "SELECT 1 FROM deliveries WHERE id = ?", (delivery_id,)) as cur:
            return await cur.fetchone() is not None

    async def get_job(self, job_id: int) -> JobRecord | None:
        async with self._read(f"reading job {job_id}") as db:
            rows = await _jobs_by_id(db, [job_id])
        return rows[0] if rows else None

    async def latest_job(self, key: ConversationKey) -> JobRecord | None:
        async with self._read(f"reading the latest job of {key}") as db, db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE platform = ? AND channel = ? AND thread = ? "
                "ORDER BY id DESC LIMIT 1", (key.platform, key.channel, key.thread)) as cur:
            row = await cur.fetchone()
        return job_record(row) if row else None

    async def active_job(self, key: ConversationKey) -> JobRecord | None:
        async with self._read(f"reading the job in flight in {key}") as db, db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE platform = ? AND channel = ? AND thread = ? "
                "AND state IN ('queued', 'running') ORDER BY id DESC LIMIT 1",
                (key.platform, key.channel, key.thread)) as cur:
            row = await cur.fetchone()
        return job_record(row) if row else None

    async def active_job_of(self, user: str, channel: str) -> JobRecord | None:
        async with self._read(f"reading the job of {user} in flight in {channel}") as db, db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE user = ? AND channel = ? "
                "AND state IN ('queued', 'running') ORDER BY id DESC LIMIT 1", (user, channel)) as cur:
            row = await cur.fetchone()
        return job_record(row) if row else None

    async def request_cancel(self, job_id: int, by: str) -> bool:
        async with self._write(f"asking to cancel job {job_id}") as db:
            cur = await db.execute("UPDATE jobs SET cancel_by = ? WHERE id = ? AND state IN ('queued', 'running')",
                                   (by, job_id))
            return cur.rowcount == 1

    async def cancel_requests(self, owner: str) -> dict[int, str]:
        async with self._read("reading cancel requests") as db, db.execute(
                "SELECT id, cancel_by FROM jobs WHERE owner = ? AND state IN ('queued', 'running') "
                "AND cancel_by IS NOT NULL ORDER BY id", (owner,)) as cur:
            return {int(r[0]): str(r[1]) for r in await cur.fetchall()}

    async def job_counts(self) -> dict[str, int]:
        async with self._read("counting jobs") as db, db.execute(
                "SELECT state, COUNT(*) FROM jobs GROUP BY state") as cur:
            return {str(r[0]): int(r[1]) for r in await cur.fetchall()}

    # -- usage --------------------------------------------------------------------------------

    async def add_usage(self, record: UsageRecord) -> None:
        async with self._write("recording usage") as db:
            await db.execute(
                "INSERT INTO usage (job_id, platform, user, channel, task, model, device, seconds, load_seconds, "
                "created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.job_id, record.platform, record.user, record.channel, record.task, record.model,
                 record.device, float(record.seconds), float(record.load_seconds), time.time()))

    async def usage_seconds(self, since: float, *, user: str | None = None, channel: str | None = None) -> float:
        """Device seconds recorded since ``since`` (Unix time) for a user and/or a channel."""
        where, params = ["created >= ?"], [since]
        if user is not None:
            where.append("user = ?")
            params.append(user)  # type: ignore[arg-type]
        if channel is not None:
            where.append("channel = ?")
            params.append(channel)  # type: ignore[arg-type]
        async with self._read("summing usage") as db, db.execute(
                f"SELECT COALESCE(SUM(seconds), 0) FROM usage WHERE {' AND '.join(where)}", tuple(params)) as cur:
            row = await cur.fetchone()
        return float(row[0]) if row else 0.0

    async def usage_table(self, since: float, by: str) -> list[UsageTotal]:
        """Totals since ``since`` grouped by ``user``, ``channel`` or ``model``, largest first."""
        if by not in USAGE_GROUPS:
            raise ValueError(f"by must be user, channel or model, not {by!r}")
        # by is one of three column names checked above, never input
        async with self._read("reading usage") as db, db.execute(
                f"SELECT {by}, COUNT(*), COUNT(DISTINCT job_id), SUM(seconds), SUM(load_seconds), "
                f"GROUP_CONCAT(DISTINCT device) FROM usage WHERE created >= ? GROUP BY {by} "
                f"ORDER BY SUM(seconds) DESC, {by}", (since,)) as cur:
            rows = await cur.fetchall()
        return [usage_total(r) for r in rows]


async def _close_runs(db: aiosqlite.Connection, job_ids: Sequence[int], status: str) -> None:
    """End the pipeline's ``running`` run rows of jobs that stopped without finishing them (a
    cancelled task or a dead process never reaches ``finish_run``). A conversation runs one turn
    at a time, so its running rows created after the job started are the job's."""
    if not job_ids:
        return
    await db.execute(
        "UPDATE runs SET status = ?, finished = ? WHERE status = 'running' AND EXISTS ("
        "SELECT 1 FROM jobs j JOIN conversations c ON c.platform = j.platform AND c.workspace = j.workspace "
        "AND c.channel = j.channel AND c.thread = j.thread "
        f"WHERE j.id IN ({','.join('?' * len(job_ids))}) AND c.id = runs.conversation_id "
        "AND j.started IS NOT NULL AND runs.created >= j.started)", (status, time.time(), *job_ids))


async def _jobs_by_id(db: aiosqlite.Connection, ids: Sequence[int]) -> list[JobRecord]:
    if not ids:
        return []
    async with db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id IN ({','.join('?' * len(ids))}) ORDER BY id",
                          tuple(ids)) as cur:
        return [job_record(r) for r in await cur.fetchall()]

