"""The job layer in front of ``Orchestrator.handle``: accept → persist → ack → queue → run → finish.

Adapters use it in two calls::

    job = await jobs.accept(key, user=..., text=..., payload=...)   # before acknowledging the platform
    ...acknowledge...
    state = await jobs.run(job, work, on_move=show_place, on_cancel=say)

``work(ctx)`` is the adapter's own coroutine (download files, ``orchestrator.handle`` with
``ctx.progress(display)``, post the answer); it runs once the fair queue gives the job a slot.
The job row moves queued → running → done | failed | cancelled in the store, owned by this
process (``owner``), which keeps a heartbeat row. At start-up ``recover`` turns the running
jobs of dead owners into interrupted ones (their threads get a notice) and adopts their queued
jobs; while serving, ``sweep_forever`` does the same every ``sweep_s`` seconds, so an owner that
dies later (another host's replica, whose heartbeat goes stale) is taken over too. ``cancel`` sets the job's cancel flag (checked by the executor before each pending step)
and cancels its task, which frees its queue slot at once. A stop may reach a replica that does not
run the job: ``running_in`` finds it through the store and ``request_cancel`` writes the request on
its row, which the replica running it reads between heartbeats (every ``cancel_poll_s``) and then
cancels as its own.

Every transition is logged as one ``hgbot.jobs`` record with ``job_id`` and ``event`` fields
(one JSON line each with ``HGBOT_LOG_FORMAT=json``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from . import cancel
from .errors import JobRefused
from .jobtypes import JobRecord, JobState, UsageRecord
from .queue import FairQueue, OnMove, QueueEntry
from .quota import Quota
from .store import JobStore
from .types import ConversationKey, EventType, ProgressCallback, ProgressEvent, RunStatus, TaskRun

if TYPE_CHECKING:  # prometheus-client loads only where metrics are served
    from .metrics import Metrics

log = logging.getLogger("hgbot.jobs")


@dataclass
class JobContext:
    """What ``work`` gets: the job, a progress wrapper that records steps, and a way to say
    "the answer is being posted" (a cancel then comes too late and is refused)."""

    job: JobRecord
    accepted: float
    flag: asyncio.Event = field(default_factory=asyncio.Event)
    runs: dict[int, TaskRun] = field(default_factory=dict)
    task: asyncio.Task[Any] | None = None
    started: bool = False  # the queue gave it a slot
    delivering: bool = False
    _recorded: set[int] = field(default_factory=set)
    _running_since: dict[int, float] = field(default_factory=dict)
    _jobs: Jobs | None = None

    def deliver(self) -> None:
        self.delivering = True

    def progress(self, display: ProgressCallback | None = None) -> ProgressCallback:
        """The orchestrator's progress callback: records finished steps (usage, metrics), then shows them."""

        async def on_event(event: ProgressEvent) -> None:
            if event.type in (EventType.PLANNED, EventType.TASK, EventType.DONE):
                for run in event.runs:
                    self.runs[run.id] = run
                    if run.status is RunStatus.RUNNING:
                        self._running_since.setdefault(run.id, time.monotonic())
                    if run.status in (RunStatus.OK, RunStatus.FAILED) and run.model and run.id not in self._recorded:
                        self._recorded.add(run.id)
                        if self._jobs is not None:
                            await self._jobs.record_step(self.job, run)
            if event.type is EventType.DONE and event.reply is not None and self._jobs is not None \
                    and self._jobs.metrics is not None:
                self._jobs.metrics.llm(event.reply.llm_calls)
            if display is not None:
                await display(event)

        return on_event

    async def abandon(self) -> None:
        """At cancel: steps still running in a worker thread cannot be stopped; they finish in the
        background, their result dropped. Their device time so far is still recorded."""
        now = time.monotonic()
        for run in list(self.runs.values()):
            if run.status is RunStatus.RUNNING and run.model and run.id not in self._recorded and self._jobs:
                self._recorded.add(run.id)
                await self._jobs.record_step(self.job, replace(run, seconds=now - self._running_since.get(run.id, now)),
                                             abandoned=True)

    def done_steps(self) -> list[str]:
        return [r.task for r in sorted(self.runs.values(), key=lambda r: r.id) if r.status is RunStatus.OK]


Work = Callable[[JobContext], Awaitable[None]]
OnCancel = Callable[[str], Awaitable[None]]
# what an adapter does with a sweep's finds: tell the interrupted threads, run the adopted jobs
OnFound = Callable[[list[JobRecord], list[JobRecord]], Awaitable[None]]

SWEEP_BOUNDS = (1.0, 300.0)  # seconds: never a busy loop, never longer than a few minutes


class Jobs:
    def __init__(self, store: JobStore, queue: FairQueue | None = None, *, admins: Iterable[str] = (),
                 quota: Quota | None = None, metrics: Metrics | None = None, device: str = "cpu",
                 heartbeat_s: float = 2.0, stale_s: float = 15.0, sweep_s: float = 10.0,
                 cancel_poll_s: float = 0.5) -> None:
        self.store = store
        self.queue = queue or FairQueue()
        self.admins = frozenset(a for a in admins if a)
        self.quota = quota
        self.metrics = metrics
        self.device = device
        self.heartbeat_s = heartbeat_s
        self.stale_s = stale_s
        self.sweep_s = min(max(sweep_s, SWEEP_BOUNDS[0]), SWEEP_BOUNDS[1])
        # a stop that reached another replica is a flag on the job row, read this often while jobs run here
        self.cancel_poll_s = min(cancel_poll_s, heartbeat_s)
        self.host = socket.gethostname()
        self.owner = f"{self.host}:{os.getpid()}:{secrets.token_hex(4)}"
        self._live: dict[int, JobContext] = {}
        self._beat: asyncio.Task[None] | None = None
        self._sweeping: set[str] = set()  # platforms swept by this process
        self._untold: list[JobRecord] = []  # interrupted by one platform's pass, for another's
        if metrics is not None:
            self.attach_metrics(metrics)

    def attach_metrics(self, metrics: Metrics) -> None:
        """Count job states, steps, model loads and LLM calls into ``metrics`` from now on."""
        self.metrics = metrics
        metrics.watch_queue(lambda: self.queue.depth, lambda: self.queue.running)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Register this process as a job owner and keep its heartbeat."""
        if self._beat is not None:
            return
        await self.store.register_owner(self.owner, self.host, os.getpid())
        self._beat = asyncio.create_task(self._heartbeat())

    async def close(self) -> None:
        beat, self._beat = self._beat, None
        if beat is not None:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _heartbeat(self) -> None:
        """The owner's heartbeat every ``heartbeat_s``; between beats, while jobs are in flight here,
        the cancel requests other replicas wrote for them (``cancel_poll_s``)."""
        beat = time.monotonic()
        while True:
            await asyncio.sleep(self.cancel_poll_s)
            if time.monotonic() - beat >= self.heartbeat_s:
                beat = time.monotonic()
                try:
                    await self.store.heartbeat(self.owner)
                except Exception:  # a busy database must not end the heartbeat for good
                    log.warning("job heartbeat failed", exc_info=True)
            if self._live:
                try:
                    await self.take_cancel_requests()
                except Exception:
                    log.warning("reading cancel requests failed", exc_info=True)

    async def take_cancel_requests(self) -> list[int]:
        """Cancel the jobs in flight here whose cancel another replica requested (the ids cancelled).
        The requester's right was checked where the stop arrived; a job whose answer is already
        being posted finishes."""
        taken: list[int] = []
        for job_id, by in (await self.store.cancel_requests(self.owner)).items():
            ctx = self._live.get(job_id)
            if ctx is None or ctx.delivering or ctx.flag.is_set():
                continue
            self._flag(ctx, by, remote=True)
            taken.append(job_id)
        return taken

    async def recover(self, platforms: Iterable[str]) -> tuple[list[JobRecord], list[JobRecord]]:
        """Jobs left by dead processes: (interrupted and not yet told, queued ones now ours)."""
        await self.start()
        plats = list(platforms)
        _, adopted = await self._adopt(plats)
        return await self.store.unnotified_jobs(plats), adopted

    async def sweep(self, platforms: Iterable[str]) -> tuple[list[JobRecord], list[JobRecord]]:
        """One pass while serving: (jobs of ``platforms`` this pass interrupted, queued ones now ours).

        Only the rows this pass changed come back (``adopt_jobs`` is one transaction), so two
        replicas sweeping at once never both tell a thread; notices that failed earlier are left to
        ``recover`` at the next start-up, which lists every untold one."""
        plats = list(platforms)
        self._sweeping.update(plats)
        interrupted, adopted = await self._adopt(plats)
        # a pass interrupts every platform's jobs: another platform served here (hgbot serve all)
        # gets its own on its next pass
        self._untold += [j for j in interrupted if j.key.platform in self._sweeping]
        mine = [j for j in self._untold if j.key.platform in plats]
        self._untold = [j for j in self._untold if j.key.platform not in plats]
        return mine, adopted

    async def sweep_forever(self, platforms: Iterable[str], on_found: OnFound) -> None:
        """Call ``sweep`` every ``sweep_s`` seconds until cancelled; ``on_found`` gets what it found."""
        plats = list(platforms)
        self._sweeping.update(plats)
        while True:
            await asyncio.sleep(self.sweep_s)
            try:
                interrupted, adopted = await self.sweep(plats)
                if interrupted or adopted:
                    await on_found(interrupted, adopted)
            except Exception:  # a busy database or a failed notice must not end the sweeps for good
                log.warning("sweeping the jobs of stopped processes failed", exc_info=True)

    async def _adopt(self, platforms: list[str]) -> tuple[list[JobRecord], list[JobRecord]]:
        now = time.time()
        dead = [o.id for o in await self.store.job_owners()
                if o.id != self.owner and self._is_dead(o.host, o.pid, o.heartbeat, now)]
        interrupted, adopted = await self.store.adopt_jobs(dead, self.owner, platforms)
        for job in interrupted:
            self._event(job, JobState.INTERRUPTED)
        for job in adopted:
            self._event(job, "adopted")
        return interrupted, adopted

    def _is_dead(self, host: str, pid: int, beat: float, now: float) -> bool:
        if host == self.host and pid > 0:
            # same host: the process table is the truth (a container's pid 1 is reused by every run)
            return pid == os.getpid() or not _pid_alive(pid)
        return now - beat > self.stale_s

    async def notified(self, job_id: int) -> None:
        await self.store.mark_notified(job_id)

    # -- accepting and running -----------------------------------------------------------------------

    async def accept(self, key: ConversationKey, *, user: str, text: str, payload: dict[str, Any] | None = None,
                     delivery_id: str | None = None) -> JobRecord | None:
        """Persist a queued job (call before acknowledging the platform); None when ``delivery_id``
        was taken before (claimed in the same transaction). Raises ``JobRefused`` when the user or
        channel is over today's quota."""
        if self.quota is not None:
            await self.quota.check(user, key.channel)
        payload = dict(payload or {})
        job_id = await self.store.add_job(key, user=user, text=text, payload=payload, owner=self.owner,
                                          delivery_id=delivery_id)
        if job_id is None:
            return None
        job = JobRecord(id=job_id, key=key, user=user, text=text, state=JobState.QUEUED, owner=self.owner,
                        payload=payload, created=time.time())
        self._event(job, JobState.QUEUED)
        return job

    async def run(self, job: JobRecord, work: Work, *, on_move: OnMove | None = None,
                  on_cancel: OnCancel | None = None) -> JobState:
        """Wait for a slot, run ``work``, record the end; the state the job ended in. Never raises
        except ``CancelledError`` on shutdown (the job then stays running and is interrupted at the
        next start-up)."""
        ctx = JobContext(job=job, accepted=time.monotonic(), task=asyncio.current_task(), _jobs=self)
        self._live[job.id] = ctx
        state, error = JobState.FAILED, None
        try:
            async with self.queue.slot(QueueEntry(job.id, job.user, job.key.channel), on_move):
                if ctx.flag.is_set():
                    raise asyncio.CancelledError
                ctx.started = True
                if not await self.store.start_job(job.id, self.owner):
                    log.info("job %s was not queued under this process any more", job.id)
                    return JobState.CANCELLED
                self._event(job, JobState.RUNNING)
                with cancel.scope(ctx.flag):
                    await work(ctx)
                ctx.delivering = True  # from here a cancel is too late
            state = JobState.DONE
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not ctx.flag.is_set() or task is None:
                raise  # shutdown, not a cancel: leave the row for the next start-up
            task.uncancel()
            state = JobState.CANCELLED
            await ctx.abandon()
        except Exception as exc:  # work should end every failure in a message; this is the backstop
            log.exception("job %s failed", job.id)
            error = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            self._live.pop(job.id, None)
        await self.store.end_job(job.id, state, error)
        self._event(job, state, seconds=round(time.monotonic() - ctx.accepted, 3))
        if state is JobState.CANCELLED and on_cancel is not None:
            await on_cancel(cancelled_text(time.monotonic() - ctx.accepted, ctx.done_steps()))
        return state

    # -- cancelling -------------------------------------------------------------------------------------

    def shed_waiting(self) -> int:
        """On shutdown: stop the jobs still waiting for a slot. Their rows stay queued, so the next
        start-up runs them; waiting for them here would only delay the exit. How many were stopped."""
        waiting = [ctx for ctx in self._live.values() if not ctx.started and ctx.task is not None]
        for ctx in waiting:
            ctx.task.cancel()  # type: ignore[union-attr]
        return len(waiting)

    def is_admin(self, user: str) -> bool:
        return user in self.admins

    def live_job(self, user: str, channel: str) -> int | None:
        """The caller's newest job in flight in ``channel`` (for ``/hgbot cancel``)."""
        mine = [jid for jid, ctx in self._live.items() if ctx.job.user == user and ctx.job.key.channel == channel]
        return max(mine) if mine else None

    def live_in(self, key: ConversationKey) -> int | None:
        """The newest job in flight in the thread ``key``, whoever asked (for a ``stop`` reply there)."""
        here = [jid for jid, ctx in self._live.items() if ctx.job.key == key]
        return max(here) if here else None

    def cancel(self, job_id: int, by: str) -> None:
        """Cancel a job in flight here. Raises ``JobRefused`` when ``by`` may not (only the requester
        or an admin may), when the job is not in flight, or when its answer is already being posted."""
        ctx = self._live.get(job_id)
        if ctx is None:
            raise JobRefused("That request is not running any more.")
        if by != ctx.job.user and not self.is_admin(by):
            raise JobRefused("Only the person who asked, or an admin, can cancel this request.")
        if ctx.delivering:
            raise JobRefused("Too late to cancel: the answer is being posted.")
        if ctx.flag.is_set():
            return
        self._flag(ctx, by)

    def _flag(self, ctx: JobContext, by: str, **fields: Any) -> None:
        ctx.flag.set()
        self._event(ctx.job, "cancel", by=by, **fields)
        if ctx.task is not None:
            ctx.task.cancel()

    async def running_in(self, key: ConversationKey) -> int | None:
        """The newest job in flight in the thread ``key`` on any replica sharing the store (a stop
        reply or Slack's stop button can reach a replica that does not run it)."""
        here = self.live_in(key)
        if here is not None:
            return here
        job = await self.store.active_job(key)
        return job.id if job is not None else None

    async def running_job_of(self, user: str, channel: str) -> int | None:
        """``live_job`` on any replica sharing the store (for ``/hgbot cancel``, which may reach another)."""
        here = self.live_job(user, channel)
        if here is not None:
            return here
        job = await self.store.active_job_of(user, channel)
        return job.id if job is not None else None

    async def request_cancel(self, job_id: int, by: str) -> None:
        """Cancel a job wherever it runs: at once when in flight here (``cancel``), else by a request
        on its row that its replica reads within ``cancel_poll_s`` and then cancels as its own (its
        thread gets the cancelled message from there). Raises ``JobRefused`` as ``cancel`` does;
        "too late" is known only where the job runs, which then lets the answer finish."""
        if job_id in self._live:
            self.cancel(job_id, by)
            return
        job = await self.store.get_job(job_id)
        if job is None or job.state.final:
            raise JobRefused("That request is not running any more.")
        if by != job.user and not self.is_admin(by):
            raise JobRefused("Only the person who asked, or an admin, can cancel this request.")
        if not await self.store.request_cancel(job_id, by):
            raise JobRefused("That request is not running any more.")
        self._event(job, "cancel requested", by=by, owner=job.owner)

    # -- accounting ------------------------------------------------------------------------------------

    async def record_step(self, job: JobRecord, run: TaskRun, *, abandoned: bool = False) -> None:
        load = 0.0
        if run.started_at is not None and run.finished_at is not None:
            load = max(0.0, run.seconds - (run.finished_at - run.started_at))
        record = UsageRecord(job_id=job.id, platform=job.key.platform, user=job.user, channel=job.key.channel,
                             task=run.task, model=run.model or "", device=self.device, seconds=run.seconds,
                             load_seconds=load)
        try:
            await self.store.add_usage(record)
        except Exception:  # accounting must never lose an answer
            log.warning("could not record usage of job %s", job.id, exc_info=True)
        if self.metrics is not None:
            self.metrics.step(run.task, run.model or "", run.seconds, load)
        self._event(job, "step", task=run.task, model=run.model, status="abandoned" if abandoned else run.status.value,
                    seconds=round(run.seconds, 3), load_seconds=round(load, 3))

    def _event(self, job: JobRecord, event: str, **fields: Any) -> None:
        if self.metrics is not None and isinstance(event, JobState):
            self.metrics.job(event.value)
        log.info("job %s %s", job.id, event, extra={
            "job_id": job.id, "event": str(event), "platform": job.key.platform, "channel": job.key.channel,
            "user": job.user, **fields})


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def queue_text(position: int, eta: float | None) -> str:
    """"⏳ 3rd in line, about 40 s" (no estimate before any job has finished)."""
    if position <= 0:
        return "🧠 Thinking…"
    place = "⏳ next in line" if position == 1 else f"⏳ {ordinal(position)} in line"
    if eta is None:
        return place
    return f"{place}, about {_round_eta(eta)}"


def _round_eta(seconds: float) -> str:
    if seconds < 60:
        return f"{max(5, 5 * round(seconds / 5))} s"
    return f"{round(seconds / 60)} min"


def cancelled_text(seconds: float, done: Sequence[str]) -> str:
    return f"🛑 Cancelled after {seconds:.0f} s (done: {', '.join(done) if done else 'nothing'})."


INTERRUPTED_TEXT = ("⚠️ hgbot was restarted while working on this, so the request was interrupted. "
                    "Press Retry or reply `retry` to run it again.")
