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
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

from . import capabilities
from . import tasks as registry
from .catalog import Catalog
from .errors import ConfigError, HgbotError, InputError, PlanError
from .executor import Executor
from .llm import CallCounter, start_counting
from .planner import Planner, PlanningContext
from .replan import replan
from .responder import Responder
from .store import Store
from .types import (
    HANDLE_PREFIX,
    Artifact,
    Attachment,
    EventType,
    Plan,
    PlanTask,
    ProgressCallback,
    ProgressEvent,
    Reply,
    Request,
    RunStatus,
    TaskRun,
)

# Executor/selector sentences that mean "no model here can run this task" (see Selector.why_none).
_UNRUNNABLE_ERRORS = ("No model in the catalog can run", "No installed backend can run")

log = logging.getLogger(__name__)

# (filename, data, claimed mime, max bytes) -> (kind, mime, suffix); raises InputError
AttachmentCheck = Callable[[str, bytes, str, int], tuple[str, str, str]]
# (url, max bytes) -> the body; refuses private addresses; raises InputError (orchestrator.media.fetch_url)
Fetcher = Callable[[str, int], Awaitable[bytes]]

# Links to media files in a request are fetched like attachments; other links stay text.
_MEDIA_LINK = re.compile(r"https?://[^\s<>\"']+?\.(?:png|jpe?g|gif|webp|bmp|tiff?|wav|mp3|flac|ogg|m4a|mp4|webm|mov)"
                         r"(?:\?[^\s<>\"'()]*[^\s<>\"'().,;!])?(?=[\s<>\"'),.;!?]|$)", re.IGNORECASE)
_MAX_LINKS = 3


async def previous_texts(store: Store, conv_id: int, exclude_run: int | None = None) -> tuple[str, ...]:
    """The text outputs of the newest earlier turn that had any, in step order: what "that first
    note" or "say it out loud" reads (the reply around them quotes them among step lines; a turn
    that only spoke or drew in between is skipped). ``exclude_run``: the turn being planned."""
    for run in await store.recent_runs(conv_id, 4):
        texts = tuple(out for t in run.tasks if t.status == RunStatus.OK.value
                      for out in t.outputs if not out.startswith(HANDLE_PREFIX))
        if run.id != exclude_run and texts:
            return texts
    return ()


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
        # The store's lock, not one of this process: replicas on one database share conversations.
        async with self.store.conversation_lock(request.conversation):
            return await self._handle(request, emit, counter, started)

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
            # The store lists artifacts newest first, which would put this message's last file before
            # its first: "classify the first image" of two read the second. This message's files come
            # first, in the order sent, then older ones newest first (as the planners expect).
            sent = {a.handle: i for i, a in enumerate(uploaded)}
            resources = sorted(await self.store.artifacts(conv_id), key=lambda a: sent.get(a.handle, len(sent)))
            if not request.attachments and capabilities.is_capability_question(
                    request.text, greetings=not self.responder.can_chat):
                # Answered from the catalog: no planner load, no LLM, no invented features.
                plan = Plan((), source="capabilities")
                text, error = await self._emit_text(self._capability_answer(), emit), None
            else:
                ctx = PlanningContext(request.text, history, resources,
                                      attached=tuple(a.handle for a in uploaded),
                                      previous_texts=await self._previous_texts(conv_id, run_id))
                plan = await self._plan(ctx)
                text, runs, plan, error = await self._run_plan(request.text, ctx, plan, conv_id, run_id, emit, counter)
            generated: list[Artifact] = [a for r in runs for a in r.artifacts]
            await self.store.add_message(conv_id, "assistant", text + "".join(
                f"\n[generated {a.kind} {a.handle} by {a.task}]" for a in generated), run_id)
            reply = Reply(text=text, plan=plan, runs=tuple(runs), artifacts=tuple(generated),
                          llm_calls=counter.calls, seconds=time.perf_counter() - started, run_id=run_id, error=error)
            status = "error" if error else "ok" if all(r.status is RunStatus.OK for r in runs) else "partial"
        except asyncio.CancelledError:
            # Ctrl-C in `hgbot chat` (or a bot shutting down): record the turn as cancelled, then stop.
            if run_id is not None:
                await asyncio.shield(self._finish(run_id, "cancelled", plan, runs, "cancelled",
                                                        time.perf_counter() - started, counter.calls))
            raise
        except HgbotError as exc:
            reply = self._error_reply(exc.user_message(), plan, runs, counter.calls, started, run_id)
            reply = replace(reply, bad_input=isinstance(exc, InputError))
            status = "error"
        except Exception as exc:  # a bug: keep the traceback in the log, give the user a reference
            log.exception("request failed (run %s)", run_id)
            reply = self._error_reply(f"Something went wrong on my side ({type(exc).__name__}); the details are "
                                      f"in the server log under run {run_id}.", plan, runs, counter.calls, started, run_id)
            status = "error"
        if run_id is not None:
            await self._finish(run_id, status, plan, runs, reply.error, reply.seconds, reply.llm_calls)
        await emit(ProgressEvent(EventType.DONE, runs=tuple(runs), reply=reply))
        return reply

    async def _previous_texts(self, conv_id: int, run_id: int) -> tuple[str, ...]:
        return await previous_texts(self.store, conv_id, run_id)

    async def _plan(self, ctx: PlanningContext) -> Plan:
        try:
            return await self.planner.plan(ctx)
        except PlanError as exc:
            # A planner that understood the request but needs a task no model here runs may attach
            # the plan it would have run (the embedded planner's TaskUnavailable): substitutes and
            # the honest "cannot run here" answer then handle it like any other plan.
            would_run = getattr(exc, "plan", None)
            if isinstance(would_run, Plan) and would_run.tasks:
                return would_run
            raise

    async def _finish(self, run_id: int, status: str, plan: Plan | None, runs: list[TaskRun], error: str | None,
                      seconds: float, llm_calls: int) -> None:
        try:
            await self.store.finish_run(run_id, status=status, plan=plan, tasks=runs, error=error,
                                        seconds=seconds, llm_calls=llm_calls)
        except HgbotError:
            log.exception("could not record run %s", run_id)

    async def _run_plan(self, request: str, ctx: PlanningContext, plan: Plan, conv_id: int, run_id: int,
                        emit: Callable[[ProgressEvent], Awaitable[None]], counter: CallCounter,
                        ) -> tuple[str, list[TaskRun], Plan, str | None]:
        """Execute ``plan`` (with at most one re-plan when an LLM plans) and write the answer.
        Returns (answer, runs, the plan as run, an error when the request could not be answered)."""
        plan, notes = self._substitute(plan, request)
        runs = [TaskRun(id=t.id, task=t.task) for t in plan.tasks]
        await emit(ProgressEvent(EventType.PLANNED, runs=_snapshot(runs)))

        async def on_delta(chunk: str) -> None:
            await emit(ProgressEvent(EventType.DELTA, text=chunk))

        if not plan.tasks and not self.responder.can_chat:
            # Open chat with no trustworthy model: say so instead of handing it to one that invents.
            text = capabilities.open_chat_answer()
            return await self._emit_text(text, emit), runs, plan, text
        missing = self._unrunnable(t.task for t in plan.tasks)
        if missing:  # nothing runs: a half-done request would only hide what is missing
            for run in runs:
                run.status = RunStatus.FAILED if run.task in missing else RunStatus.SKIPPED
                run.error = (self.executor.selector.why_none(run.task) if run.task in missing
                             else "not run: " + ", ".join(missing) + " cannot run here")
        else:
            runs = await self._execute(plan, conv_id, run_id, emit)
        replanned = False  # asked for a re-plan: the answer may then be the third call
        recovered = False  # the re-plan ran something instead
        if self._should_replan(plan, runs, counter):
            replanned = True
            extra = await replan(self.planner, ctx, plan, runs,
                                 await self.store.artifacts(conv_id))  # new outputs are listed
            if extra is not None and extra.tasks and not self._unrunnable(t.task for t in extra.tasks):
                more = await self._execute(extra, conv_id, run_id, emit, before=runs)
                plan = Plan(plan.tasks + extra.tasks, source=plan.source + "+replan")
                runs = runs + more
                recovered = True
        if missing and not recovered:  # nothing ran: the plan shows what would have, the answer why not
            text = "\n".join(self._unrunnable_line(t) for t in missing)
            return await self._emit_text(text, emit), [], plan, text
        # Two LLM calls per request at most (three after a re-plan): after a repair turn the results
        # speak for themselves.
        text = await self.responder.respond(request=request, history=ctx.history, plan=plan, runs=runs,
                                            on_delta=on_delta, llm_allowed=counter.calls < (3 if replanned else 2),
                                            resources=ctx.resources, attached=ctx.attached)
        if notes:
            text = "\n".join(notes) + "\n\n" + text
        gone = [r.task for r in runs if r.status is RunStatus.FAILED and (r.error or "").startswith(_UNRUNNABLE_ERRORS)]
        if gone and not recovered:
            line = "\n".join(self._unrunnable_line(t) for t in dict.fromkeys(gone))
            return text + "\n\n" + line, runs, plan, line
        if runs and not any(r.status is RunStatus.OK for r in runs):
            # Every step failed or was skipped: the answer explains why, but nothing was answered,
            # and an exit code or a --json reader must not take it for success.
            return text, runs, plan, next((r.error for r in runs if r.error), None) or "No step of the plan succeeded."
        return text, runs, plan, None

    async def _execute(self, plan: Plan, conv_id: int, run_id: int, emit: Callable[[ProgressEvent], Awaitable[None]],
                       before: list[TaskRun] | None = None) -> list[TaskRun]:
        """Run ``plan``; for a re-plan, ``before`` (the first plan's runs) stays in the progress display."""
        runs_by_id: dict[int, TaskRun] = {r.id: r for r in before or []}
        runs_by_id.update({t.id: TaskRun(id=t.id, task=t.task) for t in plan.tasks})

        async def on_change(run: TaskRun) -> None:
            runs_by_id[run.id] = run  # the executor's live object replaces the queued placeholder
            await emit(ProgressEvent(EventType.TASK, runs=_snapshot(runs_by_id.values())))

        by_handle = {a.handle: a for a in await self.store.artifacts(conv_id)}
        return await self.executor.run(plan, conversation_id=conv_id, run_id=run_id, artifacts=by_handle,
                                       on_change=on_change)

    def _should_replan(self, plan: Plan, runs: list[TaskRun], counter: CallCounter) -> bool:
        """Once, when an LLM plans (its own plan or a fast-path plan it can correct), a step failed,
        could not run here, or its output did not fit its consumer (the executor fails that
        consumer), and the request has an LLM call to spare."""
        if plan.source not in ("llm", "router") or self.planner.llm is None or counter.calls > 2:
            return False
        return any(r.status is not RunStatus.OK for r in runs)

    def _substitute(self, plan: Plan, request: str) -> tuple[Plan, list[str]]:
        """Swap each task that cannot run here for a runnable one that answers part of it ("how many
        people?" without a VQA model: the face detector), with a note saying what was done instead."""
        runnable = self.executor.selector.ranked
        tasks, notes = [], []
        for t in plan.tasks:
            ranked = runnable(t.task)
            if not ranked:
                swap = capabilities.substitute(t.task, request, lambda name: bool(runnable(name)))
            elif ranked[0].only and self._feeds_text_only(plan, t):
                # The model that would run covers part of the task (faces, for "what objects are in
                # this photo?"): "No faces found." would read as "nothing is in it".
                swap = capabilities.narrow_substitute(ranked[0].only, request, lambda name: bool(runnable(name)))
            else:
                swap = None
            target = registry.get(swap[0]) if swap else None
            if swap is None or target is None or not all(k in t.args for k in target.inputs):
                tasks.append(t)
                continue
            args = {k: v for k, v in t.args.items() if target.accepts(k)}
            tasks.append(replace(t, task=swap[0], args=args, model=None))
            notes.append(swap[1])
        return (replace(plan, tasks=tuple(tasks)), list(dict.fromkeys(notes))) if notes else (plan, [])

    @staticmethod
    def _feeds_text_only(plan: Plan, task: PlanTask) -> bool:
        """True when every step that uses ``task``'s output takes text, so a substitute that answers
        in text (no boxed image) still feeds them."""
        consumers = [registry.get(t.task) for t in plan.tasks if task.id in t.deps]
        return all(c is not None and "text" in c.inputs for c in consumers)

    def _unrunnable(self, tasks: Iterable[str]) -> list[str]:
        selector = self.executor.selector
        return [t for t in dict.fromkeys(tasks) if not selector.ranked(t)]

    def _runnable_tasks(self) -> dict[str, str]:
        """Task → the description of the model that would run it here (the catalog says what it
        really does: "reads printed text", not the task's generic "describe an image")."""
        selector = self.executor.selector
        return {t: ranked[0].description for t in selector.catalog.tasks() if (ranked := selector.ranked(t))}

    def _capability_answer(self) -> str:
        return capabilities.capability_answer(self._runnable_tasks(), self.responder.chat_model)

    def _unrunnable_line(self, task: str) -> str:
        return capabilities.unrunnable_line(task, self._hub_models, has_endpoint=self.planner.llm is not None)

    @staticmethod
    def _hub_models(task: str) -> list[str]:
        """Hub models that would run ``task`` on a host with hub access (the built-in hub catalog)."""
        try:
            return [c.id for c in Catalog.load().for_task(task)]
        except ConfigError:
            return []

    @staticmethod
    async def _emit_text(text: str, emit: Callable[[ProgressEvent], Awaitable[None]]) -> str:
        await emit(ProgressEvent(EventType.DELTA, text=text))
        return text

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
