"""The chat-service port: everything a chat adapter (Slack, Discord, a third platform) may ask of hgbot.

An adapter turns platform events into ``Request``s and ``Reply``s into platform messages; for the
rest it holds one ``ChatService`` and nothing else (no store, no orchestrator, no settings object)::

    service.handle(request, progress)      # plan → select → execute → respond, with progress events
    service.claim_delivery(id)             # process each platform delivery once (redeliveries, replicas)
    service.delivery_seen(id)              # look without claiming (the claim goes with the job)
    service.find_conversation(key)         # is this thread one hgbot answered before (a restart ago)?
    service.jobs                           # durable jobs: accept, run, cancel, retry; None without them

``OrchestratorService`` is the in-process implementation over the orchestrator, the store's delivery
ledger and ``orchestrator.jobs.Jobs``; ``tests/fakes/chat_service.py`` is the fake beside it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from .jobtypes import JobRecord, JobState
from .types import Artifact, ConversationKey, ProgressCallback, Reply, Request

if TYPE_CHECKING:  # the job layer loads where jobs run, not wherever the port is named (CLI start-up)
    from .jobs import Jobs, OnCancel, Work
    from .queue import OnMove


class Handler(Protocol):
    """Answers one request (``Orchestrator.handle``); never raises for what a user did."""

    async def handle(self, request: Request, progress: ProgressCallback | None = None) -> Reply: ...


class DeliveryLedger(Protocol):
    """The store's part adapters need: each delivery processed once; which threads are ours."""

    async def claim_delivery(self, delivery_id: str) -> bool: ...

    async def find_conversation(self, key: ConversationKey) -> int | None: ...

    async def read_artifact(self, artifact: Artifact) -> bytes: ...


class JobService(Protocol):
    """The durable-jobs layer as adapters use it (``orchestrator.jobs.Jobs`` is the implementation).

    ``accept`` before acknowledging the platform, ``run`` once acknowledged; ``cancel`` and a retry
    (``accept`` again with the old job's request) are what the platform's buttons do.
    """

    async def accept(self, key: ConversationKey, *, user: str, text: str, payload: dict[str, Any] | None = None,
                     delivery_id: str | None = None) -> JobRecord | None: ...

    async def run(self, job: JobRecord, work: Work, *, on_move: OnMove | None = None,
                  on_cancel: OnCancel | None = None) -> JobState: ...

    def cancel(self, job_id: int, by: str) -> None: ...

    def live_job(self, user: str, channel: str) -> int | None: ...

    def live_in(self, key: ConversationKey) -> int | None: ...

    async def running_in(self, key: ConversationKey) -> int | None:
        """The newest job in flight in the thread on any replica (``live_in`` sees only this one)."""
        ...

    async def running_job_of(self, user: str, channel: str) -> int | None:
        """The user's newest job in flight in ``channel`` on any replica (``live_job`` sees only this one)."""
        ...

    async def request_cancel(self, job_id: int, by: str) -> None:
        """``cancel`` wherever the job runs (another replica cancels it within a second or so)."""
        ...

    async def sweep_forever(self, platforms: Iterable[str],
                            on_found: Callable[[list[JobRecord], list[JobRecord]], Awaitable[None]]) -> None: ...

    async def recover(self, platforms: Iterable[str]) -> tuple[list[JobRecord], list[JobRecord]]: ...

    async def notified(self, job_id: int) -> None: ...

    def shed_waiting(self) -> int: ...

    async def get_job(self, job_id: int) -> JobRecord | None: ...

    async def latest_job(self, key: ConversationKey) -> JobRecord | None: ...

    async def set_job_thread(self, job_id: int, thread: str) -> None: ...

    async def end_job(self, job_id: int, state: JobState, error: str | None = None) -> None: ...

    async def delivery_seen(self, delivery_id: str) -> bool: ...


class ChatService(Protocol):
    """The one port every chat adapter uses."""

    @property
    def jobs(self) -> JobService | None: ...

    async def handle(self, request: Request, progress: ProgressCallback | None = None) -> Reply: ...

    async def claim_delivery(self, delivery_id: str) -> bool: ...

    async def delivery_seen(self, delivery_id: str) -> bool: ...

    async def find_conversation(self, key: ConversationKey) -> int | None: ...

    async def artifact_bytes(self, artifact: Artifact) -> bytes:
        """A generated file's bytes for upload, read through the blob store (never the orchestrator's disk)."""
        ...


class JobsPort:
    """``JobService`` over ``orchestrator.jobs.Jobs``: its own calls, plus the job rows it keeps in its store."""

    def __init__(self, jobs: Jobs) -> None:
        self._jobs = jobs

    async def accept(self, key: ConversationKey, *, user: str, text: str, payload: dict[str, Any] | None = None,
                     delivery_id: str | None = None) -> JobRecord | None:
        return await self._jobs.accept(key, user=user, text=text, payload=payload, delivery_id=delivery_id)

    async def run(self, job: JobRecord, work: Work, *, on_move: OnMove | None = None,
                  on_cancel: OnCancel | None = None) -> JobState:
        return await self._jobs.run(job, work, on_move=on_move, on_cancel=on_cancel)

    def cancel(self, job_id: int, by: str) -> None:
        self._jobs.cancel(job_id, by)

    def live_job(self, user: str, channel: str) -> int | None:
        return self._jobs.live_job(user, channel)

    def live_in(self, key: ConversationKey) -> int | None:
        return self._jobs.live_in(key)

    async def running_in(self, key: ConversationKey) -> int | None:
        return await self._jobs.running_in(key)

    async def running_job_of(self, user: str, channel: str) -> int | None:
        return await self._jobs.running_job_of(user, channel)

    async def request_cancel(self, job_id: int, by: str) -> None:
        await self._jobs.request_cancel(job_id, by)

    async def sweep_forever(self, platforms: Iterable[str],
                            on_found: Callable[[list[JobRecord], list[JobRecord]], Awaitable[None]]) -> None:
        await self._jobs.sweep_forever(platforms, on_found)

    async def recover(self, platforms: Iterable[str]) -> tuple[list[JobRecord], list[JobRecord]]:
        return await self._jobs.recover(platforms)

    async def notified(self, job_id: int) -> None:
        await self._jobs.notified(job_id)

    def shed_waiting(self) -> int:
        return self._jobs.shed_waiting()

    async def get_job(self, job_id: int) -> JobRecord | None:
        return await self._jobs.store.get_job(job_id)

    async def latest_job(self, key: ConversationKey) -> JobRecord | None:
        return await self._jobs.store.latest_job(key)

    async def set_job_thread(self, job_id: int, thread: str) -> None:
        await self._jobs.store.set_job_thread(job_id, thread)

    async def end_job(self, job_id: int, state: JobState, error: str | None = None) -> None:
        await self._jobs.store.end_job(job_id, state, error)

    async def delivery_seen(self, delivery_id: str) -> bool:
        return await self._jobs.store.delivery_seen(delivery_id)


class OrchestratorService:
    """The in-process ``ChatService``: the orchestrator answers, the store's ledger remembers
    deliveries and conversations, and ``Jobs`` (when given) makes each request a durable job."""

    def __init__(self, handler: Handler, ledger: DeliveryLedger, jobs: Jobs | JobService | None = None) -> None:
        self._handler = handler
        self._ledger = ledger
        from .jobs import Jobs

        self._jobs: JobService | None = JobsPort(jobs) if isinstance(jobs, Jobs) else jobs

    @property
    def jobs(self) -> JobService | None:
        return self._jobs

    async def handle(self, request: Request, progress: ProgressCallback | None = None) -> Reply:
        return await self._handler.handle(request, progress)

    async def claim_delivery(self, delivery_id: str) -> bool:
        return await self._ledger.claim_delivery(delivery_id)

    async def delivery_seen(self, delivery_id: str) -> bool:
        if self._jobs is not None:
            return await self._jobs.delivery_seen(delivery_id)
        seen = getattr(self._ledger, "delivery_seen", None)  # a ledger without the look-up: nothing seen yet
        return bool(await seen(delivery_id)) if seen is not None else False

    async def find_conversation(self, key: ConversationKey) -> int | None:
        return await self._ledger.find_conversation(key)

    async def artifact_bytes(self, artifact: Artifact) -> bytes:
        return await self._ledger.read_artifact(artifact)
