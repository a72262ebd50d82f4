"""Tune the zero-LLM planners on the chat-style suite's tuning half, and report both halves.

    HF_HUB_OFFLINE=1 python bench/chat_tuning.py            # tuning half: scores + every miss
    HF_HUB_OFFLINE=1 python bench/chat_tuning.py --report   # both halves: scores only
    HF_HUB_OFFLINE=1 python bench/chat_tuning.py --overall  # both halves: overall aggregates only

The planner is the product's no-LLM path (``orchestrator.planner.Planner``: the fast path first,
then the embedded planner, then the validator) with the real MiniLM. Misses are printed for the
tuning half only: the untouched half is scored, never inspected (see bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from orchestrator.embedded_planner import EmbeddedPlanner  # noqa: E402
from orchestrator.evaluation import (  # noqa: E402
    TBRecord,
    chat_scores,
    collect,
    format_chat_report,
    format_report,
    load_records,
    plan_to_prediction,
    planning_context,
    score,
    split_half,
)
from orchestrator.planner import Planner  # noqa: E402
from orchestrator.router import TaskRouter  # noqa: E402

SUITE = Path(__file__).resolve().parent / "chat_suite.jsonl"


def product_planner(router: TaskRouter) -> Planner:
    rules = EmbeddedPlanner(router)
    return Planner(llm=None, candidates=lambda t: ["any"], router=lambda: router, rule_planner=lambda: rules)


async def evaluate(planner: Planner, records: list[TBRecord], show_misses: bool, overall_only: bool = False) -> None:
    async def plan_fn(rec: TBRecord) -> object:
        return await planner.plan(planning_context(rec))

    predictions, seconds = await collect(records, plan_fn)
    scores = score(records, predictions, seconds)
    # --overall: the aggregate row alone, so that no by-type breakdown of a half is ever shown
    print(format_report({"overall": scores["overall"]} if overall_only else scores))
    chat, misses = chat_scores(records, predictions)
    print(format_chat_report(chat))
    ms = sorted(1000 * s for s in seconds)
    print(f"ms per plan: median {statistics.median(ms):.1f}, max {ms[-1]:.1f}")
    if not show_misses:
        return
    by_id = {r.id: (r, p) for r, p in zip(records, predictions, strict=True)}
    for rec, pred in by_id.values():
        names, links = plan_to_prediction(pred)
        what = [m for i, m in misses if i == rec.id]
        if set(names) != set(rec.nodes):
            what.append("nodes")
        elif set(links) != set(rec.links):
            what.append("links")
        if what:
            args = [t.args for t in pred.tasks] if pred is not None and hasattr(pred, "tasks") else None
            print(f"- {rec.id} {what} {rec.request!r} atts={[a for a, _ in rec.attachments]}\n"
                  f"    gold {rec.nodes} {rec.links} files={rec.files} payload={list(rec.payload)}\n"
                  f"    got  {names} {links} {args}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", type=Path, default=SUITE)
    ap.add_argument("--report", action="store_true", help="score both halves, print no misses")
    ap.add_argument("--overall", action="store_true",
                    help="score both halves, print only the overall aggregates (no by-type table, no misses)")
    ap.add_argument("--dev", action="store_true", help="the development set (bench/chat_dev.jsonl) instead")
    args = ap.parse_args()
    records = load_records(args.suite)
    planner = product_planner(TaskRouter.load())
    if args.dev:
        print("Development set (tuning only)")
        asyncio.run(evaluate(planner, load_records(SUITE.with_name("chat_dev.jsonl")), show_misses=True))
        return
    print("Tuning half (even ids)")
    asyncio.run(evaluate(planner, split_half(records, "tune"), show_misses=not (args.report or args.overall),
                         overall_only=args.overall))
    if args.report or args.overall:
        print("\nUntouched half (odd ids)")
        asyncio.run(evaluate(planner, split_half(records, "heldout"), show_misses=False, overall_only=args.overall))


if __name__ == "__main__":
    main()
