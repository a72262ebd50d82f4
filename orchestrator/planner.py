"""Stage 1: turn a request into a validated task graph, with as few LLM calls as possible.

Order of attempts:
1. the fast path: a calibrated router decides single-task requests with their inputs at hand
   (0 LLM calls);
2. with an LLM endpoint: one JSON-schema-constrained call that plans *and* picks models (the
   prompt lists candidate models per task), plus at most one repair turn fed with the
   validator's problems;
3. without one: the embedded planner (clause splitting + routing + type-driven linking).
Every plan passes ``validate_plan``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from . import prompts
from . import tasks as registry
from .content import earlier_text
from .errors import LLMBadResponse, LLMError, LLMUnavailable, PlanError, TaskUnavailable
from .llm import LLM, ChatMessage
from .types import Artifact, Kind, Message, Plan
from .validate import parse_plan_json, plan_schema, validate_plan

log = logging.getLogger(__name__)


class Router(Protocol):
    def plan(self, text: str, resources: Sequence[tuple[str, Kind]], *, attached: Collection[str] = (),
             previous_text: str | None = None, runnable: Collection[str] | None = None) -> dict[str, Any] | None: ...


class RulePlanner(Protocol):
    def plan(self, text: str, resources: Sequence[tuple[str, Kind]], *, allow_literal_files: bool = False,
             attached: Collection[str] = (), previous_text: str | None = None,
             runnable: Collection[str] | None = None) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PlanningContext:
    request: str
    history: Sequence[Message]
    resources: Sequence[Artifact]  # newest first
    allow_literal_files: bool = False  # evaluation only: TaskBench names files in the text
    attached: Sequence[str] = ()  # handles of the files that came with this message (the rest are older)
    any_task: bool = False  # evaluation only: plan every registry task, whether a model here runs it or not
    previous_text: str | None = None  # the previous turn's text output; None: taken from ``history``
    previous_texts: tuple[str, ...] = ()  # the text outputs of the previous turn's steps, in step order

    @property
    def handles(self) -> dict[str, Kind]:
        return {a.handle: a.kind for a in self.resources}

    @property
    def resource_pairs(self) -> list[tuple[str, Kind]]:
        return [(a.handle, a.kind) for a in self.resources]

    def last_output_text(self) -> str | None:
        """What "it" means in "now say it out loud": the previous answer, without its file notes."""
        if self.previous_text is not None:
            return self.previous_text
        if self.previous_texts:  # "that first note": one of them, not the whole reply around them
            return earlier_text(self.request, self.previous_texts)
        for msg in reversed(self.history):
            if msg.role == "assistant":
                text = "\n".join(line for line in msg.text.splitlines() if not line.startswith("[generated "))
                return text.strip() or None
        return None


def _approx_tokens(text: str) -> int:
    return len(text) // 4 + 1


def trim_history(history: Sequence[Message], budget_tokens: int) -> list[Message]:
    """Keep the newest messages that fit ``budget_tokens`` (oldest first in the result)."""
    kept: list[Message] = []
    used = 0
    for msg in reversed(history):
        cost = _approx_tokens(msg.text) + 4
        if used + cost > budget_tokens:
            break
        kept.append(msg)
        used += cost
    return list(reversed(kept))


def describe_resources(resources: Sequence[Artifact], limit: int = 20) -> str:
    """One line per file. Handles, kinds, tasks and models are hgbot's own; filenames and
    descriptions come from users and models, so they are marked as data."""
    if not resources:
        return "none"
    lines = []
    for a in resources[:limit]:
        origin = f"output of {a.task} ({a.model})" if a.task else "uploaded by the user"
        name = f" named {prompts.as_data(a.filename)}" if a.filename else ""
        desc = f" — {prompts.as_data(a.description[:80])}" if a.description else ""
        lines.append(f"- {a.handle} ({a.kind}){name}: {origin}{desc}")
    return "\n".join(lines)


def describe_history(history: Sequence[Message]) -> str:
    """Earlier turns, each marked as data: they quote filenames, OCR text and model answers."""
    return "\n".join(f"{m.role}: {prompts.as_data(m.text)}" for m in history) or "(none)"


class Planner:
    def __init__(
        self,
        *,
        llm: LLM | None,
        candidates: Callable[[str], list[str]],
        router: Callable[[], Router | None] | None = None,
        rule_planner: Callable[[], RulePlanner | None] | None = None,
        history_tokens: int = 1500,
    ) -> None:
        """``llm`` plans when given (an endpoint is configured); ``router`` and ``rule_planner`` are
        factories, called once in a worker thread on first use (they load an embedding model)."""
        self.llm = llm
        self._candidates = candidates
        self._router_factory = router
        self._rule_factory = rule_planner
        self._router: Router | None = None
        self._rules: RulePlanner | None = None
        self._loaded = False
        self._rules_loaded = False
        self._load_lock = asyncio.Lock()
        self.history_tokens = history_tokens

    async def _ensure_loaded(self) -> None:
        async with self._load_lock:
            if self._loaded:
                return
            self._loaded = True
            if self._router_factory is not None:
                self._router = await asyncio.to_thread(_safe_factory, self._router_factory, "fast-path router")

    def candidates(self) -> dict[str, list[str]]:
        """Candidate model ids per task, as the planning prompt lists them (the re-plan reuses them)."""
        return {t: self._candidates(t) for t in registry.TASKS}

    async def _rule_planner(self) -> RulePlanner | None:
        """The embedded planner, loaded on first need (always without an LLM; as a fallback with one)."""
        async with self._load_lock:
            if not self._rules_loaded and self._rule_factory is not None:
                self._rules = await asyncio.to_thread(_safe_factory, self._rule_factory, "embedded planner")
            self._rules_loaded = True
            return self._rules

    async def plan(self, ctx: PlanningContext) -> Plan:
        await self._ensure_loaded()
        handles = ctx.handles
        cands = {t: self._candidates(t) for t in registry.TASKS}
        # A zero-LLM planner never picks a task no model here can run (see TaskUnavailable).
        runnable = None if ctx.any_task else frozenset(t for t, ids in cands.items() if ids)
        if self._router is not None:
            router = self._router
            raw = await asyncio.to_thread(lambda: router.plan(
                ctx.request, ctx.resource_pairs, attached=ctx.attached, previous_text=ctx.last_output_text(),
                runnable=runnable))
            if raw is not None:
                try:
                    return validate_plan(raw, handles=handles, candidates=cands, source="router",
                                         allow_literal_files=ctx.allow_literal_files)
                except PlanError as exc:  # a router slip falls through to the full planner
                    log.info("fast path plan rejected: %s", exc)
        if self.llm is not None:
            try:
                return await self._plan_with_llm(ctx, handles, cands)
            except (LLMUnavailable, LLMBadResponse) as exc:
                # The LLM is down or answers garbage (a small local model running out of tokens):
                # a rule-made plan beats no answer. Chat still needs the LLM.
                try:
                    plan = await self._plan_with_rules(ctx, handles, cands, "embedded (LLM unavailable)", runnable)
                except TaskUnavailable:
                    raise exc from None
                if plan is None or not plan.tasks:
                    raise
                log.warning("LLM planning failed (%s); planned without it", exc)
                return plan
        plan = await self._plan_with_rules(ctx, handles, cands, "embedded", runnable)
        if plan is None:
            raise PlanError("No planner is available: configure an LLM endpoint or install the embedded default (pip install -e '.[offline]' in the hgbot checkout).", [])
        return plan

    async def _plan_with_rules(self, ctx: PlanningContext, handles: dict[str, Kind], cands: dict[str, list[str]],
                               source: str, runnable: Collection[str] | None = None) -> Plan | None:
        """The embedded planner's plan; raises ``TaskUnavailable`` when it needs a task no model here runs."""
        rules = await self._rule_planner()
        if rules is None:
            return None
        previous = ctx.last_output_text()
        raw = await asyncio.to_thread(lambda: rules.plan(
            ctx.request, ctx.resource_pairs, allow_literal_files=ctx.allow_literal_files, attached=ctx.attached,
            previous_text=previous, runnable=runnable))
        plan = validate_plan(raw, handles=handles, candidates=cands, source=source,
                             allow_literal_files=ctx.allow_literal_files)
        if raw.get("unrunnable"):
            raise TaskUnavailable(list(raw["unrunnable"]), plan)
        return plan

    def messages(self, ctx: PlanningContext, cands: dict[str, list[str]]) -> list[ChatMessage]:
        p = prompts.load("planner")
        task_lines = []
        for t in registry.TASKS.values():
            inputs = " + ".join(t.inputs) + (f" (+ {', '.join(t.optional)})" if t.optional else "")
            outputs = " + ".join((t.output, *t.also))
            task_lines.append(f"- {t.name}: {inputs} -> {outputs}: {t.description}")
        cand_lines = [f"- {task}: {', '.join(ids)}" for task, ids in cands.items() if ids] or ["- none"]
        system = p["system"].format_map({"task_list": "\n".join(task_lines), "candidates": "\n".join(cand_lines)})
        msgs: list[ChatMessage] = [{"role": "system", "content": system}]
        for ex in p.get("examples", []):
            msgs.append({"role": "user", "content": ex["user"].format_map({})})
            msgs.append({"role": "assistant", "content": ex["assistant"].format_map({})})
        history = trim_history(ctx.history, self.history_tokens)
        # this message's files apart from older ones: "this photo" means an attachment, not the last image made
        attached = set(ctx.attached)
        msgs.append({"role": "user", "content": p["user"].format_map({
            "history": describe_history(history), "request": ctx.request,
            "attachments": describe_resources([a for a in ctx.resources if a.handle in attached]),
            "resources": describe_resources([a for a in ctx.resources if a.handle not in attached])})})
        return msgs

    async def _plan_with_llm(self, ctx: PlanningContext, handles: dict[str, Kind], cands: dict[str, list[str]]) -> Plan:
        assert self.llm is not None
        msgs = self.messages(ctx, cands)
        schema = plan_schema()
        problems: list[str] = []
        for attempt in (1, 2):
            content = await self.llm.complete_json(msgs, schema, "hgbot_plan")
            try:
                raw = parse_plan_json(content)
                return validate_plan(raw, handles=handles, candidates=cands, source="llm",
                                     allow_literal_files=ctx.allow_literal_files)
            except PlanError as exc:
                problems = exc.problems or [str(exc)]
                log.info("plan attempt %d invalid: %s", attempt, problems)
                repair = prompts.load("planner")["repair"].format_map({"problems": "\n".join(f"- {p}" for p in problems)})
                msgs = [*msgs, {"role": "assistant", "content": content[:4000]}, {"role": "user", "content": repair}]
        raise PlanError("I could not turn your request into a valid plan: " + "; ".join(problems[:4]) + ".", problems,
                        hint="Try rephrasing it as explicit steps.")


def _safe_factory(factory: Callable[[], Any], what: str) -> Any:
    try:
        return factory()
    except Exception as exc:  # an optional component must never break planning
        log.warning("%s unavailable: %s", what, exc)
        return None


__all__ = ["LLMError", "Planner", "PlanningContext", "trim_history"]
