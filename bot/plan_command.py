"""``hgbot plan``: show the plan a request would get, and run nothing.

The request goes through the same planner as ``hgbot ask`` (fast path, LLM or embedded planner,
and the validator), with this message's files and the conversation's earlier files and answers
as inputs. Nothing is stored (no run, no message, no artifact) and no model is loaded: the
attachments are checked and described in memory, and the models shown are the selector's
choices, not loaded ones.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from orchestrator.errors import TaskUnavailable
from orchestrator.types import Artifact, Plan

from .config import Settings

EXIT_OK, EXIT_FAILED = 0, 1


async def run_plan(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.cli import build_request, dumps
    from orchestrator import media
    from orchestrator.planner import PlanningContext

    from .app import build_app

    request = build_request(args.text, args.attach, args.channel, settings.max_file_bytes)
    attached: list[Artifact] = []
    for att in request.attachments:
        kind, mime, _ = media.validate_attachment(att.filename, att.data, att.mime, settings.max_file_bytes)
        digest = hashlib.sha256(att.data).hexdigest()[:10]
        attached.append(Artifact(id=f"new{digest}", conversation_id=0, kind=kind, mime=mime,
                                 path=Path(att.filename), size=len(att.data), filename=att.filename,
                                 description=f"uploaded by the user as {att.filename}"))
    app = await build_app(settings)
    unrunnable: list[str] = []
    message = ""
    try:
        older, history, texts = await _conversation(app, request.conversation)
        ctx = PlanningContext(request.text, history, [*attached, *older], attached=[a.handle for a in attached],
                              previous_texts=texts)
        try:
            plan: Plan | None = await app.orchestrator.planner.plan(ctx)
        except TaskUnavailable as exc:
            plan = exc.plan if isinstance(exc.plan, Plan) else None
            unrunnable = exc.tasks
            message = exc.user_message()
        names = {a.handle: a.filename or a.handle for a in [*attached, *older]}
        view = _view(plan, names, app.selector, unrunnable)
    finally:
        await app.close()
    if args.json:
        print(dumps(view))
    else:
        _render(Console(soft_wrap=True), view)
    if unrunnable:
        print(f"hgbot: {message}", file=sys.stderr)  # one line, whatever the terminal width
        return EXIT_FAILED
    return EXIT_OK


async def _conversation(app: Any, key: Any) -> tuple[list[Artifact], list[Any], tuple[str, ...]]:
    """The conversation's earlier files, messages and latest text outputs, read without creating anything."""
    from orchestrator.pipeline import previous_texts

    find = getattr(app.store, "find_conversation", None)
    conv = await find(key) if find is not None else await app.store.conversation(key)
    if conv is None:
        return [], [], ()
    return (list(await app.store.artifacts(conv)), list(await app.store.history(conv, 40)),
            await previous_texts(app.store, conv))


def _view(plan: Plan | None, names: dict[str, str], selector: Any, unrunnable: list[str]) -> dict[str, Any]:
    tasks = []
    for t in plan.tasks if plan else ():
        args = {k: (f"{v} ({names[v]})" if v in names else v) for k, v in t.wire_args().items()}
        models = [c.id for c in selector.choose(t)]
        tasks.append({"id": t.id, "task": t.task, "deps": list(t.deps), "args": args, "models": models[:3]})
    planner = {"router": "fast path (no LLM)", "embedded": "embedded planner (no LLM)",
               "llm": "LLM"}.get(plan.source, plan.source) if plan else "none"
    return {"planner": planner, "tasks": tasks, "chat": plan is not None and not plan.tasks and not unrunnable,
            "unrunnable": unrunnable}


def _render(out: Console, view: dict[str, Any]) -> None:
    out.print(f"planner: {view['planner']}", markup=False, highlight=False)
    if view["chat"]:
        out.print("no tasks: answered as chat", markup=False, highlight=False)
    for t in view["tasks"]:
        deps = ", ".join(map(str, t["deps"])) or "-"
        args = "; ".join(f"{k}={v!r}" for k, v in t["args"].items())
        models = ", ".join(t["models"]) or "no model here"
        out.print(f"{t['id']}. {t['task']}  deps: {deps}  args: {args}  models: {models}", markup=False,
                  highlight=False)
    if view["unrunnable"]:
        out.print(f"cannot run here: {', '.join(view['unrunnable'])}", markup=False, highlight=False)
