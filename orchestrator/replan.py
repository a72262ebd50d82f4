"""The one bounded re-plan: after a plan ran and a step failed, could not run here, or gave an
output its consumer could not use, the LLM sees the plan and the results so far once and may plan
what is left. One call, no repair turn, never a second re-plan (the pipeline guards the count:
``llm_calls`` stays at 3 or fewer).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from . import prompts
from .errors import LLMError, PlanError
from .llm import ChatMessage
from .planner import Planner, PlanningContext, describe_resources
from .responder import summarize_results
from .types import GENERATED_PREFIX, Artifact, Plan, TaskRun
from .validate import plan_schema, validate_plan

log = logging.getLogger(__name__)


async def replan(planner: Planner, ctx: PlanningContext, plan: Plan, runs: Sequence[TaskRun],
                 resources: Sequence[Artifact]) -> Plan | None:
    """A validated plan for the rest of the work, or None when there is no LLM, the call fails or
    the new plan is invalid (the results so far are then the answer). ``resources`` are the
    conversation's files now, including the outputs of ``runs``. The new tasks are numbered after
    the plan's, so both read as one plan."""
    if planner.llm is None:
        return None
    cands = planner.candidates()
    first = json.dumps({"tasks": plan.to_json()}, ensure_ascii=False)
    ask = prompts.load("replan")["user"].format_map({"results": summarize_results(runs, limit=600),
                                                    "resources": describe_resources(resources)})
    msgs: list[ChatMessage] = [*planner.messages(ctx, cands), {"role": "assistant", "content": first[:4000]},
                               {"role": "user", "content": ask}]
    try:
        content = await planner.llm.complete_json(msgs, plan_schema(), "hgbot_plan")
        raw = renumber(_json(content), max((t.id for t in plan.tasks), default=0))
        return validate_plan(raw, handles={a.handle: a.kind for a in resources}, candidates=cands,
                             source="llm", allow_literal_files=ctx.allow_literal_files)
    except (LLMError, PlanError) as exc:
        log.info("re-plan dropped: %s", exc)
        return None


def _json(content: str) -> Any:
    text = content.strip()
    if text.startswith("```"):  # some servers fence JSON even under json_schema
        text = text.strip("`").split("\n", 1)[-1]
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError("The re-plan is not valid JSON.", [f"not valid JSON ({exc.msg})"]) from exc


def renumber(raw: Any, offset: int) -> Any:
    """The re-plan's ids, deps and ``<GENERATED>-k`` references moved up by ``offset``, on the raw
    JSON before validation (anything malformed is left for the validator to report)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("tasks"), list):
        return raw

    def up(value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value >= 0:
            return value + offset
        if isinstance(value, str) and value.isdigit():
            return int(value) + offset
        return value  # HuggingGPT's -1 ("no deps") and garbage stay as they are

    for item in raw["tasks"]:
        if not isinstance(item, dict):
            continue
        if "id" in item:
            item["id"] = up(item["id"])
        if isinstance(item.get("deps"), list):
            item["deps"] = [up(d) for d in item["deps"]]
        args = item.get("args")
        if isinstance(args, dict):
            for key, value in args.items():
                ref = value[len(GENERATED_PREFIX):] if isinstance(value, str) and value.startswith(GENERATED_PREFIX) else ""
                if ref.isdigit():
                    args[key] = f"{GENERATED_PREFIX}{int(ref) + offset}"
    return raw
