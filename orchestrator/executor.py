"""Stage 3: run the task graph.

Each plan task becomes an asyncio task that waits for its dependencies, resolves its inputs,
and runs its model in a worker thread, so independent branches run at the same time. A failing
model falls back to the next candidate; a task that finally fails skips its dependents (with the
reason) while the rest of the graph still runs. Generated files become artifacts of the
conversation as soon as they exist, so nothing produced is lost if a later step fails.

Args arrive typed from the validator (``LiteralArg``, ``ArtifactRef``, ``Generated``); nothing
here parses reference strings. A step that times out is reported at its timeout, but a Python
thread cannot be killed: its concurrency slot and its model stay held until the thread really
returns, so runaway steps queue new work instead of piling up (intake checks in ``media`` bound
what any step can be given).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

from . import cancel
from . import tasks as registry
from .backends.base import LoadedModel
from .catalog import ModelCard
from .errors import ArtifactNotFound, HgbotError, InputError
from .selector import Selector
from .store import Store
from .types import (
    FILE_KINDS,
    Artifact,
    ArtifactRef,
    FileOutput,
    Generated,
    LiteralArg,
    Plan,
    PlanTask,
    RunStatus,
    TaskRun,
    TextOutput,
)

log = logging.getLogger(__name__)

OnChange = Callable[[TaskRun], Awaitable[None]]


class ModelSource(Protocol):
    def use(self, card: ModelCard) -> AbstractAsyncContextManager[LoadedModel]:
        """The loaded model, kept from eviction while the block runs."""
        ...


class Executor:
    def __init__(self, *, cache: ModelSource, selector: Selector, store: Store, task_timeout: float = 300.0,
                 max_parallel: int = 4) -> None:
        self.cache = cache
        self.selector = selector
        self.store = store
        self.task_timeout = task_timeout
        # Bounds concurrent model calls across all requests: one shared queue for the GPU/CPU.
        self._slots = asyncio.Semaphore(max_parallel)
        # Model calls still running in their threads (some past their timeout); kept referenced
        # so they are not garbage-collected, and so tests can wait for them.
        self._working: set[asyncio.Task[list[TextOutput | FileOutput]]] = set()

    async def run(self, plan: Plan, *, conversation_id: int, run_id: int | None,
                  artifacts: Mapping[str, Artifact], on_change: OnChange | None = None) -> list[TaskRun]:
        runs = {pt.id: TaskRun(id=pt.id, task=pt.task, model=None) for pt in plan.tasks}
        done: dict[int, asyncio.Event] = {pt.id: asyncio.Event() for pt in plan.tasks}

        async def notify(run: TaskRun) -> None:
            if on_change is not None:
                try:
                    await on_change(run)
                except Exception:  # a progress display must never break the job
                    log.exception("progress callback failed")

        async def one(pt: PlanTask) -> None:
            run = runs[pt.id]
            try:
                for dep in pt.deps:
                    await done[dep].wait()
                if cancel.requested():  # the job was cancelled: a pending step never starts
                    run.status, run.error = RunStatus.SKIPPED, "cancelled"
                    await notify(run)
                    return
                bad = [d for d in pt.deps if runs[d].status is not RunStatus.OK]
                if bad:
                    run.status = RunStatus.SKIPPED
                    run.error = f"skipped because task {bad[0]} ({runs[bad[0]].task}) {runs[bad[0]].status.value}"
                    await notify(run)
                    return
                await self._execute(pt, run, runs, artifacts, conversation_id, run_id, notify)
            except Exception as exc:  # defensive: a bug in one task must not hang its dependents
                log.exception("task %s crashed", pt.id)
                run.status = RunStatus.FAILED
                run.error = f"internal error: {type(exc).__name__}"
                await notify(run)
            finally:
                done[pt.id].set()

        await asyncio.gather(*(one(pt) for pt in plan.tasks))
        return [runs[pt.id] for pt in plan.tasks]

    async def _execute(self, pt: PlanTask, run: TaskRun, runs: Mapping[int, TaskRun], artifacts: Mapping[str, Artifact],
                       conversation_id: int, run_id: int | None, notify: Callable[[TaskRun], Awaitable[None]]) -> None:
        try:
            inputs = await self._resolve(pt, runs, artifacts, conversation_id)
        except HgbotError as exc:
            run.status, run.error = RunStatus.FAILED, exc.user_message()
            await notify(run)
            return
        cards = self.selector.choose(pt)
        if not cards:
            run.status, run.error = RunStatus.FAILED, self.selector.why_none(pt.task)
            await notify(run)
            return
        errors: list[str] = []
        started = time.perf_counter()
        for card in cards:
            run.model = card.id
            run.status = RunStatus.RUNNING
            await notify(run)
            try:
                outputs = await self._run_model(card, pt, inputs, run)
                run.finished_at = time.monotonic()
                await self._store_outputs(run, outputs, card, conversation_id, run_id)
                run.status = RunStatus.OK
                run.error = "; ".join(errors) or None  # earlier failed candidates, for the record
                run.seconds = time.perf_counter() - started
                await notify(run)
                return
            except InputError as exc:  # the inputs are wrong, not the model: another model would fail alike
                errors.append(exc.user_message())
                break
            except TimeoutError:
                errors.append(f"{card.id} timed out after {self.task_timeout:.0f}s")
            except HgbotError as exc:
                errors.append(f"{card.id}: {exc.user_message()}")
            except Exception as exc:  # model code raises anything; record it and try the next model
                log.warning("model %s failed on %s", card.id, pt.task, exc_info=True)
                errors.append(f"{card.id} failed: {_short(exc)}")
        run.status = RunStatus.FAILED
        run.error = "; ".join(errors)
        run.seconds = time.perf_counter() - started
        await notify(run)

    async def _run_model(self, card: ModelCard, pt: PlanTask, inputs: dict[str, str | Path],
                         run: TaskRun) -> list[TextOutput | FileOutput]:
        """Run ``card`` on ``inputs`` in a worker thread; ``TimeoutError`` after ``task_timeout``.

        The timeout starts once a slot is held and the model is loaded. On timeout the caller
        moves on, but the thread cannot be stopped: the slot and the model stay held until it
        returns, so the semaphore counts work that is really running.
        """
        started = asyncio.Event()

        async def occupy() -> list[TextOutput | FileOutput]:
            async with self._slots, self.cache.use(card) as model:
                started.set()
                outputs = await asyncio.to_thread(model.run, pt.task, inputs)
                run.where = getattr(model, "where", None)  # a cluster runtime says which node ran it
                return outputs

        work = asyncio.create_task(occupy(), name=f"model {card.id} for task {pt.id}")
        self._working.add(work)
        work.add_done_callback(self._forget)
        waiting = asyncio.create_task(started.wait())
        try:
            await asyncio.wait((work, waiting), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            if not started.is_set():  # still queued or loading: nothing runs yet, so it can go
                work.cancel()
            raise
        finally:
            waiting.cancel()
        if not started.is_set():
            return work.result()  # raises the load failure
        run.started_at = time.monotonic()
        # shield: a timeout (or a cancelled request) must not cancel ``occupy``, which would
        # release the slot while the thread keeps running.
        return await asyncio.wait_for(asyncio.shield(work), timeout=self.task_timeout)

    def _forget(self, work: asyncio.Task[list[TextOutput | FileOutput]]) -> None:
        self._working.discard(work)
        if not work.cancelled() and work.exception() is not None:
            # Only reached unseen for a step that timed out; its error no longer matters.
            log.debug("%s ended with %r after its timeout", work.get_name(), work.exception())

    async def drain(self) -> None:
        """Wait until every model thread has returned (timed-out ones included)."""
        while self._working:
            await asyncio.wait(set(self._working))

    async def _resolve(self, pt: PlanTask, runs: Mapping[int, TaskRun], artifacts: Mapping[str, Artifact],
                       conversation_id: int) -> dict[str, str | Path]:
        task = registry.get(pt.task)
        inputs: dict[str, str | Path] = {}
        for key, value in pt.args.items():
            want = "text" if key == "context" else key
            match value:
                case Generated(task_id=k):
                    src = runs[k]
                    if want == "text":
                        if not src.texts:
                            raise InputError(f"task {src.id} ({src.task}) produced no text for task {pt.id}")
                        inputs[key] = "\n".join(src.texts)
                    else:
                        found = next((a for a in src.artifacts if a.kind == want), None)
                        if found is None:
                            raise InputError(f"task {src.id} ({src.task}) produced no {want} for task {pt.id}")
                        inputs[key] = found.path
                case ArtifactRef():
                    handle = str(value)
                    art = artifacts.get(handle) or await self.store.get_artifact(conversation_id, value.id)
                    if art.conversation_id != conversation_id:
                        raise ArtifactNotFound(f"{handle} is not a file of this conversation.")
                    if art.kind != want and not (want == "audio" and art.kind == "video"):  # a video's audio track
                        raise InputError(f"{handle} is {art.kind}, but {pt.task} needs {want} there")
                    inputs[key] = art.path if want != "text" else await asyncio.to_thread(
                        art.path.read_text, encoding="utf-8", errors="replace")
                case LiteralArg(text=text):
                    if want in FILE_KINDS:  # a file name from a TaskBench plan: never a path we open
                        raise InputError(f"task {pt.id}: {want} must be a file of this conversation, "
                                         f"not {text[:60]!r}")
                    inputs[key] = text
                case _:  # a plan that did not come from the validator
                    raise TypeError(f"task {pt.id}: arg {key!r} is {type(value).__name__}, not a validated value")
        if task is not None:
            missing = [k for k in task.inputs if k not in inputs]
            if missing:
                raise InputError(f"{pt.task} is missing its {', '.join(missing)} input")
        return inputs

    async def _store_outputs(self, run: TaskRun, outputs: list[TextOutput | FileOutput], card: ModelCard,
                             conversation_id: int, run_id: int | None) -> None:
        for out in outputs:
            if isinstance(out, TextOutput):
                run.texts.append(out.text)
            else:
                art = await self.store.put_artifact(
                    conversation_id, out.data, kind=out.kind, mime=out.mime, suffix=out.suffix,
                    description=out.description or f"{run.task} output", task=run.task, model=card.id,
                    filename=f"{run.task}-{run.id}{out.suffix}", run_id=run_id,
                )
                run.artifacts.append(art)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
