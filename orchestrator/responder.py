"""Stage 4: write the answer from the request and the real results.

- No tasks (just chat): the LLM answers the conversation directly (streamed).
- One text-only task whose output *is* the answer: no LLM call at all.
- Otherwise one streamed LLM call over compact, truncated results. Files are never described
  by path: the adapter attaches them.
- When the LLM is missing or fails, a deterministic summary of the results is the answer, so
  work that was done is never lost to a flaky endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Sequence

from . import capabilities, prompts
from . import tasks as registry
from .errors import LLMError
from .llm import LLM, ChatMessage
from .planner import trim_history
from .types import (
    FILE_KINDS,
    GENERATED_PREFIX,
    HANDLE_PREFIX,
    Artifact,
    Message,
    Plan,
    PlanTask,
    RunStatus,
    TaskRun,
)

log = logging.getLogger(__name__)

OnDelta = Callable[[str], Awaitable[None]]
_MAX_RESULT_CHARS = 1500


# A step's words worth showing beside its name: what was spoken or drawn, so "it" can be checked.
_SHOWN_TEXT = ("text-to-speech", "text-to-image", "text-to-video")
_TEXT_LIMIT = 80


def describe_inputs(task: PlanTask | None, resources: Sequence[Artifact] = (), attached: Collection[str] = ()) -> str:
    """Where a step's inputs came from, truthfully: "the image you attached" (this message), "the
    audio I made earlier" / "the image you sent earlier" (earlier in this conversation), "the text
    from step 1" (another step of this plan); "" when there is nothing to say."""
    if task is None:
        return ""
    known = {a.handle: a for a in resources}
    parts: list[str] = []
    for key, value in task.args.items():
        wire = str(value)
        if wire.startswith(HANDLE_PREFIX):
            found = known.get(wire)
            kind = found.kind if found is not None else key
            if wire in attached:
                parts.append(f"the {kind} you attached")
            elif found is not None and found.task:
                parts.append(f"the {kind} I made earlier")
            else:
                parts.append(f"the {kind} you sent earlier")
        elif wire.startswith(GENERATED_PREFIX):
            source = wire[len(GENERATED_PREFIX):]
            parts.append(f"the {key if key in FILE_KINDS else 'text'} from step {source}")
        elif key == "text" and task.task in _SHOWN_TEXT:
            shown = " ".join(wire.split())
            parts.append(f"“{shown if len(shown) <= _TEXT_LIMIT else shown[:_TEXT_LIMIT] + '…'}”")
    return ", ".join(parts)




def summarize_results(runs: Sequence[TaskRun], limit: int = _MAX_RESULT_CHARS, plan: Plan | None = None,
                      resources: Sequence[Artifact] = (), attached: Collection[str] = ()) -> str:
    """Results as plain lines: what ran, with which model, on what, and what came out (truncated)."""
    steps = {t.id: t for t in plan.tasks} if plan is not None else {}
    lines = []
    for r in runs:
        head = f"{r.id}. {r.task}" + (f" ({r.model})" if r.model else "")
        if inputs := describe_inputs(steps.get(r.id), resources, attached):
            head += f" on {inputs}"
        if r.status is RunStatus.OK:
            parts = []
            for t in r.texts:
                parts.append(t if len(t) <= limit else t[:limit] + " …[truncated]")
            for a in r.artifacts:
                parts.append(f"[{a.kind} made by this step]")
            lines.append(f"{head}: " + (" ".join(parts) if parts else "done, no output"))
        else:
            lines.append(f"{head}: {r.status.value} — {r.error or 'no reason given'}")
    return "\n".join(lines)


def fallback_answer(runs: Sequence[TaskRun], plan: Plan | None = None, resources: Sequence[Artifact] = (),
                    attached: Collection[str] = ()) -> str:
    """A readable answer built from the results alone (no LLM); with ``plan``, each step also says
    where its inputs came from (``describe_inputs``)."""
    ok = [r for r in runs if r.status is RunStatus.OK]
    if len(runs) == 1 and ok and ok[0].texts and not ok[0].artifacts:
        return "\n".join(ok[0].texts)
    steps = {t.id: t for t in plan.tasks} if plan is not None else {}
    out = ["Here is what I did:"]
    for r in runs:
        model = f" with `{r.model}`" if r.model else ""
        if inputs := describe_inputs(steps.get(r.id), resources, attached):
            model += f" on {inputs}"
        if r.status is RunStatus.OK:
            bits = [f"“{t.strip()}”" if len(t) < 300 else t.strip()[:600] + "…" for t in r.texts]
            bits += [f"{a.kind}, sent with this reply" for a in r.artifacts]
            out.append(f"{r.id}. **{r.task}**{model}: " + ("; ".join(bits) or "done"))
        else:
            out.append(f"{r.id}. **{r.task}**{model}: {r.status.value} — {r.error}")
    return "\n".join(out)


def answer_is_single_text(plan: Plan, runs: Sequence[TaskRun]) -> bool:
    if len(runs) != 1 or runs[0].status is not RunStatus.OK or runs[0].artifacts or not runs[0].texts:
        return False
    task = registry.get(plan.tasks[0].task)
    return task is not None and task.output == "text" and all(k == "text" for k in task.inputs)


class Responder:
    def __init__(self, llm: LLM | None, *, history_tokens: int = 1500, summarize_with_llm: bool = True) -> None:
        """``summarize_with_llm`` False: task results are answered by the deterministic summary
        (the embedded default, whose tiny LLM would paraphrase results less reliably)."""
        self.llm = llm
        self.history_tokens = history_tokens
        self.summarize_with_llm = summarize_with_llm

    @property
    def can_chat(self) -> bool:
        """Whether open chat has a model to answer it (an endpoint, or a local model set explicitly)."""
        return self.llm is not None

    @property
    def chat_model(self) -> str | None:
        return self.llm.name if self.llm is not None else None

    async def respond(self, *, request: str, history: Sequence[Message], plan: Plan, runs: Sequence[TaskRun],
                      on_delta: OnDelta | None = None, llm_allowed: bool = True,
                      resources: Sequence[Artifact] = (), attached: Collection[str] = ()) -> str:
        """``llm_allowed`` False: the request already spent its LLM calls (planning needed its repair
        turn), so task results are summarized without a third call. ``resources`` (the conversation's
        files) and ``attached`` (this message's handles) let the summary say where inputs came from."""
        if not plan.tasks:
            return await self._chat(request, history, on_delta)
        if (answer_is_single_text(plan, runs) or not self.summarize_with_llm or self.llm is None
                or not llm_allowed):
            return await self._emit(fallback_answer(runs, plan, resources, attached), on_delta)
        p = prompts.load("responder")
        msgs: list[ChatMessage] = [
            {"role": "system", "content": p["system"]},
            {"role": "user", "content": p["results"].format_map({"request": request, "results": prompts.as_data(
                summarize_results(runs, plan=plan, resources=resources, attached=attached))})},
        ]
        try:
            return await self._stream(msgs, on_delta)
        except LLMError as exc:
            log.warning("responder LLM failed, using the plain summary: %s", exc)
            return await self._emit(fallback_answer(runs, plan, resources, attached) + f"\n\n_(The language model could not write this answer: {exc})_",
                                    on_delta)

    async def _chat(self, request: str, history: Sequence[Message], on_delta: OnDelta | None) -> str:
        if self.llm is None:
            return await self._emit(capabilities.open_chat_answer(), on_delta)
        p = prompts.load("responder")
        msgs: list[ChatMessage] = [{"role": "system", "content": p["chat_system"]}]
        for m in trim_history(history, self.history_tokens):
            msgs.append({"role": m.role, "content": m.text})
        if not history or history[-1].text != request:
            msgs.append({"role": "user", "content": request})
        return await self._stream(msgs, on_delta)

    async def _stream(self, msgs: list[ChatMessage], on_delta: OnDelta | None) -> str:
        assert self.llm is not None
        parts: list[str] = []
        async for chunk in self.llm.stream(msgs):
            parts.append(chunk)
            if on_delta is not None:
                await on_delta(chunk)
        text = "".join(parts).strip()
        if not text:
            raise_empty = "The language model returned an empty answer."
            return await self._emit(raise_empty, on_delta)
        return text

    @staticmethod
    async def _emit(text: str, on_delta: OnDelta | None) -> str:
        if on_delta is not None:
            await on_delta(text)
        return text
