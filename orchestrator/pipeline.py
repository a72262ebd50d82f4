"""The Orchestrator: one request in, one reply out (plan → select → execute → respond).

Contract for adapters::

    reply = await orchestrator.handle(request, progress)

``progress`` (optional) receives ``ProgressEvent``s: PLANNED once the plan is known, TASK each
time a task changes state, DELTA chunks of the streamed answer, DONE with the final reply.
``handle`` never raises for user-facing failures: a request that cannot be answered comes back
as a ``Reply`` with ``error`` set and ``text`` holding a readable message.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

from .errors import HgbotError
from .executor import Executor
from .llm import CallCounter, start_counting
from .planner import Planner, PlanningContext
from .responder import Responder
from .store import Store
from .types import (
    Artifact,
    Attachment,
    ConversationKey,
    EventType,
    Plan,
    ProgressCallback,
    ProgressEvent,
    Reply,
    Request,
    RunStatus,
    TaskRun,
)

log = logging.getLogger(__name__)

# (filename, data, claimed mime, max bytes) -> (kind, mime, suffix); raises InputError
AttachmentCheck = Callable[[str, bytes, str, int], tuple[str, str, str]]
# (url, max bytes) -> the body; refuses private addresses; raises InputError (orchestrator.media.fetch_url)
Fetcher = Callable[[str, int], Awaitable[bytes]]

# Links to media files in a request are fetched like attachments; other links stay text.
_MEDIA_LINK = re.compile(r"https?://[^\s<>\"']+?\.(?:png|jpe?g|gif|webp|bmp|tiff?|wav|mp3|flac|ogg|m4a|mp4|webm|mov)"
                         r"(?:\?[^\s<>\"'()]*[^\s<>\"'().,;!])?(?=[\s<>\"'),.;!?]|$)", re.IGNORECASE)
_MAX_LINKS = 3


class Orchestrator:
    def __init__(self, *, store: Store, planner: Planner, executor: Executor, responder: Responder,
                 check_attachment: AttachmentCheck, max_file_bytes: int, history_limit: int = 40,
                 fetch: Fetcher | None = None) -> None:
        self.store = store
        self.planner = planner
        self.executor = executor
        self.responder = responder
        self.check_attachment = check_attachment
        self.max_file_bytes = max_file_bytes
        self.history_limit = history_limit
        self.fetch = fetch
        # Weak values: a conversation's lock lives only while some turn holds or waits for it.
        self._locks: weakref.WeakValueDictionary[ConversationKey, asyncio.Lock] = weakref.WeakValueDictionary()

    async def handle(self, request: Request, progress: ProgressCallback | None = None) -> Reply:
        started = time.perf_counter()
        counter = start_counting()

        async def emit(event: ProgressEvent) -> None:
            if progress is not None:
                try:
                    await progress(event)
                except Exception:  # a broken progress display must not lose the answer
                    log.exception("progress callback failed")

        if request.delivery_id and not await self.store.claim_delivery(request.delivery_id):
            return Reply(text="", duplicate=True)
        # One turn at a time per conversation: a follow-up must see the previous turn's artifacts.
        async with self._lock_for(request.conversation):
            return await self._handle(request, emit, counter, started)

    def _lock_for(self, key: ConversationKey) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def _handle(self, request: Request, emit: Callable[[ProgressEvent], Awaitable[None]], counter: CallCounter,
                      started: float) -> Reply:
        conv_id: int | None = None
        run_id: int | None = None
        plan: Plan | None = None
        runs: list[TaskRun] = []
        try:
            conv_id = await self.store.conversation(request.conversation)
            run_id = await self.store.start_run(conv_id, request.text)
            uploaded = await self._store_attachments(request, conv_id, run_id)
            note = "".join(f"\n[attached {a.kind} {a.handle} {a.filename}]" for a in uploaded)
            history = await self.store.history(conv_id, self.history_limit)
            await self.store.add_message(conv_id, "user", request.text + note, run_id)
            resources = await self.store.artifacts(conv_id)
            plan = await self.planner.plan(PlanningContext(request.text, history, resources,
                                                           attached=tuple(a.handle for a in uploaded)))
            runs = [TaskRun(id=t.id, task=t.task) for t in plan.tasks]
            await emit(ProgressEvent(EventType.PLANNED, runs=_snapshot(runs)))

            async def on_change(run: TaskRun) -> None:
                runs_by_id[run.id] = run  # the executor's live object replaces the queued placeholder
                await emit(ProgressEvent(EventType.TASK, runs=_snapshot(runs_by_id.values())))

            by_handle = {a.handle: a for a in resources}
            runs_by_id = {r.id: r for r in runs}
            if plan.tasks:
                done_runs = await self.executor.run(plan, conversation_id=conv_id, run_id=run_id,
                                                    artifacts=by_handle, on_change=on_change)
                runs_by_id.update({r.id: r for r in done_runs})
                runs = done_runs

            async def on_delta(chunk: str) -> None:
                await emit(ProgressEvent(EventType.DELTA, text=chunk))

            # Two LLM calls per request at most: after a repair turn the results speak for themselves.
            text = await self.responder.respond(request=request.text, history=history, plan=plan, runs=runs,
                                                on_delta=on_delta, llm_allowed=counter.calls < 2)
            generated: list[Artifact] = [a for r in runs for a in r.artifacts]
            await self.store.add_message(conv_id, "assistant", text + "".join(
                f"\n[generated {a.kind} {a.handle} by {a.task}]" for a in generated), run_id)
            reply = Reply(text=text, plan=plan, runs=tuple(runs), artifacts=tuple(generated),
                          llm_calls=counter.calls, seconds=time.perf_counter() - started, run_id=run_id)
            status = "ok" if all(r.status is RunStatus.OK for r in runs) else "partial"
        except HgbotError as exc:
            reply = self._error_reply(exc.user_message(), plan, runs, counter.calls, started, run_id)
            status = "error"
        except Exception as exc:  # a bug: keep the traceback in the log, give the user a reference
            log.exception("request failed (run %s)", run_id)
            reply = self._error_reply(f"Something went wrong on my side ({type(exc).__name__}); the details are "
                                      f"in the server log under run {run_id}.", plan, runs, counter.calls, started, run_id)
            status = "error"
        if run_id is not None:
            try:
                await self.store.finish_run(run_id, status=status, plan=plan,
                                            tasks=runs, error=reply.error,
                                            seconds=reply.seconds, llm_calls=reply.llm_calls)
            except HgbotError:
                log.exception("could not record run %s", run_id)
        await emit(ProgressEvent(EventType.DONE, runs=tuple(runs), reply=reply))
        return reply

    async def _linked_files(self, text: str) -> list[Attachment]:
        """Media files linked in the request, downloaded through the SSRF-safe fetcher."""
        if self.fetch is None:
            return []
        found = []
        for url in list(dict.fromkeys(_MEDIA_LINK.findall(text)))[:_MAX_LINKS]:
            data = await self.fetch(url, self.max_file_bytes)
            name = url.split("?", 1)[0].rsplit("/", 1)[-1] or "linked-file"
            found.append(Attachment(filename=name, data=data))
        return found

    async def _store_attachments(self, request: Request, conv_id: int, run_id: int) -> list[Artifact]:
        stored = []
        for att in [*request.attachments, *await self._linked_files(request.text)]:
            # Decoding a large image to check it takes a while: keep it off the event loop.
            kind, mime, suffix = await asyncio.to_thread(self.check_attachment, att.filename, att.data, att.mime,
                                                         self.max_file_bytes)
            stored.append(await self.store.put_artifact(
                conv_id, att.data, kind=kind, mime=mime, suffix=suffix,  # type: ignore[arg-type]
                description=f"uploaded by the user as {att.filename}", filename=att.filename, run_id=run_id))
        return stored

    @staticmethod
    def _error_reply(message: str, plan: Plan | None, runs: list[TaskRun], calls: int, started: float,
                     run_id: int | None) -> Reply:
        return Reply(text=message, plan=plan, runs=tuple(runs), artifacts=tuple(a for r in runs for a in r.artifacts),
                     llm_calls=calls, seconds=time.perf_counter() - started, error=message, run_id=run_id)


def _snapshot(runs: Iterable[TaskRun]) -> tuple[TaskRun, ...]:
    """Copies: the executor keeps mutating its runs, but an event must show the moment it was sent."""
    return tuple(replace(r, texts=list(r.texts), artifacts=list(r.artifacts)) for r in runs)
