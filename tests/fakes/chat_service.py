"""A fake ``ChatService`` (``orchestrator.service``): a scripted answer, an in-memory delivery
ledger and in-memory jobs, so an adapter can be driven without an orchestrator or a store.

``FakeChatService(answer=...)`` answers every request with ``answer(request)`` (default: echo the
text), after sending the progress events ``events`` (default: none). It records every request.
``FakeJobs`` runs each accepted job at once, in the caller's task, and honours ``cancel``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from orchestrator.jobs import JobContext, OnCancel, Work
from orchestrator.jobtypes import JobRecord, JobState
from orchestrator.queue import OnMove
from orchestrator.service import JobService
from orchestrator.types import Artifact, ConversationKey, ProgressCallback, ProgressEvent, Reply, Request


@dataclass
class FakeJobs:
    records: dict[int, JobRecord] = field(default_factory=dict)
    claimed: set[str] = field(default_factory=set)
    live: dict[int, JobContext] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def accept(self, key: ConversationKey, *, user: str, text: str, payload: dict[str, Any] | None = None,
                     delivery_id: str | None = None) -> JobRecord | None:
        if delivery_id is not None:
            if delivery_id in self.claimed:
                return None
            self.claimed.add(delivery_id)
        job = JobRecord(id=next(self._ids), key=key, user=user, text=text, state=JobState.QUEUED,
                        payload=dict(payload or {}), created=time.time())
        self.records[job.id] = job
        return job

    async def run(self, job: JobRecord, work: Work, *, on_move: OnMove | None = None,
                  on_cancel: OnCancel | None = None) -> JobState:
        ctx = JobContext(job=job, accepted=time.monotonic(), task=asyncio.current_task())
        self.live[job.id] = ctx
        state = JobState.FAILED
        try:
            ctx.started = True
            await work(ctx)
            state = JobState.DONE
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not ctx.flag.is_set() or task is None:
                raise
            task.uncancel()
            state = JobState.CANCELLED
        finally:
            self.live.pop(job.id, None)
        await self.end_job(job.id, state)
        if state is JobState.CANCELLED and on_cancel is not None:
            await on_cancel("Cancelled.")
        return state

    def cancel(self, job_id: int, by: str) -> None:
        ctx = self.live.get(job_id)
        if ctx is not None:
            ctx.flag.set()
            if ctx.task is not None:
                ctx.task.cancel()

    def live_job(self, user: str, channel: str) -> int | None:
        mine = [j for j, c in self.live.items() if c.job.user == user and c.job.key.channel == channel]
        return max(mine) if mine else None

    def live_in(self, key: ConversationKey) -> int | None:
        here = [j for j, c in self.live.items() if c.job.key == key]
        return max(here) if here else None

    async def running_in(self, key: ConversationKey) -> int | None:
        return self.live_in(key)  # one process: what runs anywhere runs here

    async def running_job_of(self, user: str, channel: str) -> int | None:
        return self.live_job(user, channel)

    async def request_cancel(self, job_id: int, by: str) -> None:
        self.cancel(job_id, by)

    async def sweep_forever(self, platforms: Iterable[str],
                            on_found: Callable[[list[JobRecord], list[JobRecord]], Awaitable[None]]) -> None:
        await asyncio.Event().wait()  # one process, no other replica: nothing ever to sweep up

    async def recover(self, platforms: Iterable[str]) -> tuple[list[JobRecord], list[JobRecord]]:
        return [], []

    async def notified(self, job_id: int) -> None:
        return None

    def shed_waiting(self) -> int:
        return 0

    async def get_job(self, job_id: int) -> JobRecord | None:
        return self.records.get(job_id)

    async def latest_job(self, key: ConversationKey) -> JobRecord | None:
        mine = [r for r in self.records.values() if r.key == key]
        return max(mine, key=lambda r: r.id) if mine else None

    async def set_job_thread(self, job_id: int, thread: str) -> None:
        record = self.records[job_id]
        self.records[job_id] = replace(record, key=replace(record.key, thread=thread))

    async def end_job(self, job_id: int, state: JobState, error: str | None = None) -> None:
        self.records[job_id] = replace(self.records[job_id], state=state, error=error)

    async def delivery_seen(self, delivery_id: str) -> bool:
        return delivery_id in self.claimed


@dataclass
class FakeChatService:
    answer: Callable[[Request], Reply] = lambda request: Reply(text=f"echo: {request.text}")
    events: Sequence[ProgressEvent] = ()
    fake_jobs: FakeJobs | None = field(default_factory=FakeJobs)
    conversations: set[ConversationKey] = field(default_factory=set)
    requests: list[Request] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)
    files: dict[str, bytes] = field(default_factory=dict)  # artifact id → bytes an upload reads
    read: list[str] = field(default_factory=list)  # artifact ids read for upload, in order

    @property
    def jobs(self) -> JobService | None:
        return self.fake_jobs

    async def handle(self, request: Request, progress: ProgressCallback | None = None) -> Reply:
        self.requests.append(request)
        self.conversations.add(request.conversation)
        for event in self.events:
            if progress is not None:
                await progress(event)
        return self.answer(request)

    async def claim_delivery(self, delivery_id: str) -> bool:
        if delivery_id in self.claimed or (self.fake_jobs is not None and delivery_id in self.fake_jobs.claimed):
            return False
        self.claimed.add(delivery_id)
        return True

    async def delivery_seen(self, delivery_id: str) -> bool:
        return delivery_id in self.claimed or (self.fake_jobs is not None and delivery_id in self.fake_jobs.claimed)

    async def find_conversation(self, key: ConversationKey) -> int | None:
        return 1 if key in self.conversations else None

    async def artifact_bytes(self, artifact: Artifact) -> bytes:
        self.read.append(artifact.id)
        return self.files.get(artifact.id, b"")
