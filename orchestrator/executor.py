"""Stage 3: run the task graph.

Each plan task becomes an asyncio task that waits for its dependencies, resolves its inputs to
values (text, or file bytes with their MIME type) and hands the step to the ``ModelRuntime``, so
independent branches run at the same time wherever the runtime runs models. A failing
model falls back to the next candidate; a task that finally fails skips its dependents (with the
reason) while the rest of the graph still runs. Generated files become artifacts of the
conversation as soon as they exist, so nothing produced is lost if a later step fails.

Args arrive typed from the validator (``LiteralArg``, ``ArtifactRef``, ``Generated``); nothing
here parses reference strings. The runtime owns models, devices, slots and the per-step timeout
(a timed-out step keeps its slot until its work stops: see ``orchestrator.runtime``); the executor
only bounds how many steps it has in flight (``max_parallel``). Intake checks in ``media`` bound
what any step can be given.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from . import cancel
from . import tasks as registry
from .catalog import Catalog, ModelCard
from .errors import ArtifactNotFound, HgbotError, InputError, TaskTimeout
from .runtime import Blob, ModelRuntime
from .types import (
    FILE_KINDS,
    Artifact,
    ArtifactRef,
    FileOutput,
    Generated,
    Kind,
    LiteralArg,
    Plan,
    PlanTask,
    RunStatus,
    TaskRun,
    TextOutput,
)

log = logging.getLogger(__name__)

OnChange = Callable[[TaskRun], Awaitable[None]]


StepValue = str | Blob


class CardChooser(Protocol):
    """The part of ``Selector`` the executor needs."""

    catalog: Catalog

    def choose(self, pt: PlanTask) -> list[ModelCard]: ...

    def ranked(self, task: str) -> list[ModelCard]: ...

    def why_none(self, task: str) -> str: ...


class ArtifactSource(Protocol):
    """The part of the store the executor needs: read an input file, keep an output file."""

    async def get_artifact(self, conversation_id: int, artifact_id: str) -> Artifact: ...

    async def read_artifact(self, artifact: Artifact) -> bytes: ...

    async def put_artifact(self, conversation_id: int, data: bytes, *, kind: Kind, mime: str, suffix: str,
                           description: str = "", task: str | None = None, model: str | None = None,
                           filename: str = "", run_id: int | None = None) -> Artifact: ...


class Executor:
    def __init__(self, *, runtime: ModelRuntime, selector: CardChooser, store: ArtifactSource,
                 max_parallel: int = 4) -> None:
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        self.runtime = runtime
        self.selector = selector
        self.store = store
        # Bounds the steps in flight across all requests (HGBOT_MAX_PARALLEL); the runtime has its
        # own per-device limit, and a step waiting for it keeps its place here.
        self._slots = asyncio.Semaphore(max_parallel)

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
            except TaskTimeout as exc:
                errors.append(str(exc))
            except HgbotError as exc:
                errors.append(f"{card.id}: {exc.user_message()}")
            except Exception as exc:  # model code raises anything; record it and try the next model
                log.warning("model %s failed on %s", card.id, pt.task, exc_info=True)
                errors.append(f"{card.id} failed: {_short(exc)}")
        run.status = RunStatus.FAILED
        run.error = "; ".join(errors)
        run.seconds = time.perf_counter() - started
        await notify(run)

    async def _run_model(self, card: ModelCard, pt: PlanTask, inputs: dict[str, StepValue],
                         run: TaskRun) -> list[TextOutput | FileOutput]:
        """Run ``card`` on ``inputs`` through the runtime; ``TaskTimeout`` past its time limit."""

        def started() -> None:
            run.started_at = time.monotonic()

        def where(node: str) -> None:  # a cluster runtime says which node ran the step
            run.where = node

        async with self._slots:
            return await self.runtime.run(card, pt.task, inputs, on_start=started, on_where=where)

    async def drain(self) -> None:
        """Wait until the runtime's work has stopped (timed-out steps included)."""
        await self.runtime.drain()

    async def _resolve(self, pt: PlanTask, runs: Mapping[int, TaskRun], artifacts: Mapping[str, Artifact],
                       conversation_id: int) -> dict[str, StepValue]:
        task = registry.get(pt.task)
        inputs: dict[str, StepValue] = {}
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
                        inputs[key] = await self._file_value(found)
                case ArtifactRef():
                    handle = str(value)
                    art = artifacts.get(handle) or await self.store.get_artifact(conversation_id, value.id)
                    if art.conversation_id != conversation_id:
                        raise ArtifactNotFound(f"{handle} is not a file of this conversation.")
                    if art.kind != want and not (want == "audio" and art.kind == "video"):  # a video's audio track
                        raise InputError(f"{handle} is {art.kind}, but {pt.task} needs {want} there")
                    inputs[key] = await self._file_value(art) if want != "text" else (
                        await self.store.read_artifact(art)).decode("utf-8", errors="replace")
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

    async def _file_value(self, art: Artifact) -> Blob:
        """An artifact's bytes as a port value, read through the blob store: the runtime may be elsewhere."""
        suffix = art.blob.suffix if art.blob is not None else art.path.suffix
        return Blob(await self.store.read_artifact(art), art.mime, suffix)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
