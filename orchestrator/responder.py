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
from collections.abc import Awaitable, Callable, Sequence

from . import capabilities, prompts
from . import tasks as registry
from .errors import LLMError
from .llm import LLM, ChatMessage
from .planner import trim_history
from .types import Message, Plan, RunStatus, TaskRun

log = logging.getLogger(__name__)

OnDelta = Callable[[str], Awaitable[None]]
_MAX_RESULT_CHARS = 1500


def summarize_results(runs: Sequence[TaskRun], limit: int = _MAX_RESULT_CHARS) -> str:
    """Results as plain lines: what ran, with which model, and what came out (truncated)."""
    lines = []
    for r in runs:
        head = f"{r.id}. {r.task}" + (f" ({r.model})" if r.model else "")
        if r.status is RunStatus.OK:
            parts = []
            for t in r.texts:
                parts.append(t if len(t) <= limit else t[:limit] + " …[truncated]")
            for a in r.artifacts:
                parts.append(f"[attached {a.kind}]")
            lines.append(f"{head}: " + (" ".join(parts) if parts else "done, no output"))
        else:
            lines.append(f"{head}: {r.status.value} — {r.error or 'no reason given'}")
    return "\n".join(lines)


def fallback_answer(runs: Sequence[TaskRun]) -> str:
    """A readable answer built from the results alone (no LLM)."""
    ok = [r for r in runs if r.status is RunStatus.OK]
    if len(runs) == 1 and ok and ok[0].texts and not ok[0].artifacts:
        return "\n".join(ok[0].texts)
    out = ["Here is what I did:"]
    for r in runs:
        model = f" with `{r.model}`" if r.model else ""
        if r.status is RunStatus.OK:
            bits = [f"“{t.strip()}”" if len(t) < 300 else t.strip()[:600] + "…" for t in r.texts]
            bits += [f"the attached {a.kind}" for a in r.artifacts]
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
                      on_delta: OnDelta | None = None, llm_allowed: bool = True) -> str:
        """``llm_allowed`` False: the request already spent its LLM calls (planning needed its repair
        turn), so task results are summarized without a third call."""
        if not plan.tasks:
            return await self._chat(request, history, on_delta)
        if (answer_is_single_text(plan, runs) or not self.summarize_with_llm or self.llm is None
                or not llm_allowed):
            return await self._emit(fallback_answer(runs), on_delta)
        p = prompts.load("responder")
        msgs: list[ChatMessage] = [
            {"role": "system", "content": p["system"]},
            {"role": "user", "content": p["results"].format_map({"request": request, "results": prompts.as_data(summarize_results(runs))})},
        ]
        try:
            return await self._stream(msgs, on_delta)
        except LLMError as exc:
            log.warning("responder LLM failed, using the plain summary: %s", exc)
            return await self._emit(fallback_answer(runs) + f"\n\n_(The language model could not write this answer: {exc})_",
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
