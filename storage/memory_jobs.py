"""Job, job-owner and usage tables of ``MemoryStore`` (a mixin, like ``storage.jobs`` for SQLite).

The same contract as the databases (``tests/storage/contract/test_jobs_contract.py``), in one
process. No method awaits between reading and changing a row, so each is atomic on the event
loop, as a transaction is in a database.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.jobtypes import JobRecord, JobState, UsageRecord
from orchestrator.store import USAGE_GROUPS, OwnerRecord, UsageTotal
from orchestrator.types import ConversationKey

from .jobrows import job_record, usage_total

_IN_FLIGHT = (JobState.QUEUED, JobState.RUNNING)


@dataclass
class _Job:
    key: ConversationKey
    user: str
    text: str
    payload: str  # JSON, as the databases keep it: a record never shares the caller's dict
    owner: str
    created: float
    state: JobState = JobState.QUEUED
    error: str | None = None
    notified: bool = False
    started: float | None = None
    finished: float | None = None
    cancel_by: str | None = None

    def in_thread(self, key: ConversationKey) -> bool:
        # the databases look a thread up by platform, channel and thread (not workspace)
        return (self.key.platform, self.key.channel, self.key.thread) == (key.platform, key.channel, key.thread)


@dataclass
class JobRows:
    jobs: dict[int, _Job] = field(default_factory=dict)
    owners: dict[str, OwnerRecord] = field(default_factory=dict)
    usage: list[tuple[float, UsageRecord]] = field(default_factory=list)  # (created, record)


class MemoryJobTables:
    """``orchestrator.store.JobStore`` in dicts; ``MemoryStore`` provides the rows, the delivery
    ledger and the pipeline's runs."""

    def _job_rows(self) -> JobRows:
        raise NotImplementedError

    def _claim(self, delivery_id: str) -> bool:
        raise NotImplementedError

    def _close_runs(self, key: ConversationKey, since: float, status: str) -> None:
        raise NotImplementedError

    # -- owners -------------------------------------------------------------------------------

    async def register_owner(self, owner: str, host: str, pid: int) -> None:
        self._job_rows().owners[owner] = OwnerRecord(owner, host, pid, time.time())

    async def heartbeat(self, owner: str) -> None:
        owners = self._job_rows().owners
        if owner in owners:
            owners[owner] = OwnerRecord(owner, owners[owner].host, owners[owner].pid, time.time())

    async def job_owners(self) -> list[OwnerRecord]:
        rows = self._job_rows()
        named = {j.owner for j in rows.jobs.values() if j.state in _IN_FLIGHT} - set(rows.owners)
        return [*rows.owners.values(), *(OwnerRecord(o, "", 0, 0.0) for o in sorted(named))]

    # -- jobs ---------------------------------------------------------------------------------

    async def add_job(self, key: ConversationKey, *, user: str, text: str, payload: dict[str, Any],
                      owner: str, delivery_id: str | None = None) -> int | None:
        rows = self._job_rows()
        if delivery_id is not None and not self._claim(delivery_id):
            return None
        job_id = max(rows.jobs, default=0) + 1
        rows.jobs[job_id] = _Job(key, user, text, json.dumps(payload, ensure_ascii=False, default=str), owner,
                                 time.time())
        return job_id

    async def set_job_thread(self, job_id: int, thread: str) -> None:
        job = self._job_rows().jobs.get(job_id)
        if job is not None:
            job.key = ConversationKey(job.key.platform, job.key.workspace, job.key.channel, thread)

    async def start_job(self, job_id: int, owner: str) -> bool:
        job = self._job_rows().jobs.get(job_id)
        if job is None or job.state is not JobState.QUEUED or job.owner != owner:
            return False
        job.state, job.started = JobState.RUNNING, time.time()
        return True

    async def end_job(self, job_id: int, state: JobState, error: str | None = None) -> bool:
        if not state.final:
            raise ValueError(f"{state} is not a final state")
        job = self._job_rows().jobs.get(job_id)
        if job is None or job.state not in _IN_FLIGHT:
            return False
        job.state, job.error, job.finished = state, error, time.time()
        if state is not JobState.DONE and job.started is not None:
            self._close_runs(job.key, job.started, state.value)
        return True

    async def adopt_jobs(self, dead: Sequence[str], owner: str,
                         platforms: Iterable[str]) -> tuple[list[JobRecord], list[JobRecord]]:
        if not dead:
            return [], []
        rows, gone, plats, now = self._job_rows(), set(dead), set(platforms), time.time()
        interrupted, adopted = [], []
        for job_id, job in sorted(rows.jobs.items()):
            if job.owner not in gone:
                continue
            if job.state is JobState.RUNNING:
                job.state, job.finished, job.error = JobState.INTERRUPTED, now, "interrupted"
                if job.started is not None:
                    self._close_runs(job.key, job.started, JobState.INTERRUPTED.value)
                interrupted.append(job_id)
            elif job.state is JobState.QUEUED and job.key.platform in plats:
                job.owner = owner
                adopted.append(job_id)
        if not any(j.owner in gone and j.state in _IN_FLIGHT for j in rows.jobs.values()):
            for name in gone:  # kept while another platform's queued jobs still name it
                rows.owners.pop(name, None)
        return [self._record(i) for i in interrupted], [self._record(i) for i in adopted]

    async def unnotified_jobs(self, platforms: Iterable[str]) -> list[JobRecord]:
        plats = set(platforms)
        return [self._record(i) for i, j in sorted(self._job_rows().jobs.items())
                if j.state is JobState.INTERRUPTED and not j.notified and j.key.platform in plats]

    async def mark_notified(self, job_id: int) -> None:
        job = self._job_rows().jobs.get(job_id)
        if job is not None:
            job.notified = True

    async def get_job(self, job_id: int) -> JobRecord | None:
        return self._record(job_id) if job_id in self._job_rows().jobs else None

    async def latest_job(self, key: ConversationKey) -> JobRecord | None:
        mine = [i for i, j in self._job_rows().jobs.items() if j.in_thread(key)]
        return self._record(max(mine)) if mine else None

    async def active_job(self, key: ConversationKey) -> JobRecord | None:
        mine = [i for i, j in self._job_rows().jobs.items() if j.in_thread(key) and j.state in _IN_FLIGHT]
        return self._record(max(mine)) if mine else None

    async def active_job_of(self, user: str, channel: str) -> JobRecord | None:
        mine = [i for i, j in self._job_rows().jobs.items()
                if j.user == user and j.key.channel == channel and j.state in _IN_FLIGHT]
        return self._record(max(mine)) if mine else None

    async def request_cancel(self, job_id: int, by: str) -> bool:
        job = self._job_rows().jobs.get(job_id)
        if job is None or job.state not in _IN_FLIGHT:
            return False
        job.cancel_by = by
        return True

    async def cancel_requests(self, owner: str) -> dict[int, str]:
        return {i: j.cancel_by for i, j in sorted(self._job_rows().jobs.items())
                if j.owner == owner and j.state in _IN_FLIGHT and j.cancel_by is not None}

    async def job_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for job in self._job_rows().jobs.values():
            counts[job.state.value] = counts.get(job.state.value, 0) + 1
        return counts

    def _record(self, job_id: int) -> JobRecord:
        j = self._job_rows().jobs[job_id]
        k = j.key
        return job_record((job_id, k.platform, k.workspace, k.channel, k.thread, j.user, j.text, j.payload,
                           j.state.value, j.owner, j.error, j.created, j.started, j.finished))

    # -- usage --------------------------------------------------------------------------------

    async def add_usage(self, record: UsageRecord) -> None:
        self._job_rows().usage.append((time.time(), record))

    async def usage_seconds(self, since: float, *, user: str | None = None, channel: str | None = None) -> float:
        return float(sum(r.seconds for created, r in self._job_rows().usage if created >= since
                         and (user is None or r.user == user) and (channel is None or r.channel == channel)))

    async def usage_table(self, since: float, by: str) -> list[UsageTotal]:
        if by not in USAGE_GROUPS:
            raise ValueError(f"by must be user, channel or model, not {by!r}")
        groups: dict[str, list[UsageRecord]] = {}
        for created, record in self._job_rows().usage:
            if created >= since:
                groups.setdefault(str(getattr(record, by)), []).append(record)
        rows = [(group, len(rs), len({r.job_id for r in rs if r.job_id is not None}), sum(r.seconds for r in rs),
                 sum(r.load_seconds for r in rs), ",".join({r.device for r in rs})) for group, rs in groups.items()]
        return [usage_total(row) for row in sorted(rows, key=lambda row: (-row[3], row[0]))]
