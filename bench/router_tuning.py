"""Reproduce the fast-path threshold tuning and the embedded planner's TaskBench figures.

    HF_HUB_OFFLINE=1 python bench/router_tuning.py [--taskbench FILE] [--skip-planner]

Fast path (``TaskRouter.route``): on single-task requests, *precision* = share of accepted routes
with the right task and *coverage* = share accepted; on multi-task requests, *false accepts* =
share accepted at all (the fast path must never take those). Request sets: TaskBench's labelled
sample split by id parity (tune = even ids, held-out = odd ids; the kinds of files a request
names stand in for attachments) and ``CHAT`` below, requests written the way people type in
Slack, with their attachments. The threshold is the smallest margin with >= 95% precision and
<= 2% false accepts on the tune half + chat set; the held-out half is reported with it, untouched.

Embedded planner: n-F1 / e-F1 by type on both halves, every plan checked by ``validate_plan``,
and milliseconds per plan.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from orchestrator.embedded_planner import EmbeddedPlanner  # noqa: E402
from orchestrator.errors import PlanError  # noqa: E402
from orchestrator.evaluation import TBRecord, format_report, load_taskbench, run_eval, split_half  # noqa: E402
from orchestrator.router import Lexicon, Route, TaskRouter  # noqa: E402
from orchestrator.types import Kind, Plan  # noqa: E402
from orchestrator.validate import validate_plan  # noqa: E402

DEFAULT_TASKBENCH = Path("/work/shared/taskbench/labelled_sample.jsonl")

# (request, attachment kinds newest first, the one task, or None when it is not one task)
CHAT: list[tuple[str, tuple[Kind, ...], str | None]] = [
    ("transcribe this", ("audio",), "automatic-speech-recognition"),
    ("can you transcribe the voice memo?", ("audio",), "automatic-speech-recognition"),
    ("what does he say in this recording", ("audio",), "automatic-speech-recognition"),
    ("read the text", ("image",), "image-to-text"),
    ("what's in this picture?", ("image",), "image-to-text"),
    ("describe this photo please", ("image",), "image-to-text"),
    ("caption this", ("image",), "image-to-text"),
    ("make a picture of a cat", (), "text-to-image"),
    ("draw a castle on a hill at sunset", (), "text-to-image"),
    ("generate an image of a red sports car", (), "text-to-image"),
    ("say hello in a robot voice", (), "text-to-speech"),
    ("read this aloud: the meeting starts at nine", (), "text-to-speech"),
    ("translate 'good morning, how are you' to German", (), "translation"),
    ("translate this into spanish: where is the station?", (), "translation"),
    ("summarize this: The committee met on Tuesday and agreed on the budget after a long debate.", (),
     "summarization"),
    ("tl;dr of the following paragraph please: Cats sleep a lot because they hunt at night.", (),
     "summarization"),
    ("remove the background noise", ("audio",), "audio-to-audio"),
    ("clean up this audio", ("audio",), "audio-to-audio"),
    ("how far away are things in this photo?", ("image",), "depth-estimation"),
    ("make a depth map of this", ("image",), "depth-estimation"),
    ("detect the objects in this image", ("image",), "object-detection"),
    ("find all the faces", ("image",), "object-detection"),
    ("segment this picture", ("image",), "image-segmentation"),
    ("make this photo look like a watercolor painting", ("image",), "image-to-image"),
    ("change the background to a beach", ("image",), "image-to-image"),
    ("classify this image", ("image",), "image-classification"),
    ("which category does this photo belong to?", ("image",), "image-classification"),
    ("what colour is the car in the photo?", ("image",), "visual-question-answering"),
    ("what is the total on this invoice?", ("image",), "document-question-answering"),
    ("make a short video of a dog surfing", (), "text-to-video"),
    ("is this review positive or negative: the food was cold and late", (), "text-classification"),
    ("find the names and places in: Ada met Grace in London in 1843", (), "token-classification"),
    ("how similar are 'a cat sat' and 'a kitten was sitting'?", (), "sentence-similarity"),
    ("write a short poem about autumn", (), "text-generation"),
    ("paraphrase: the results were not what we expected", (), "text-generation"),
    ("what emotion is in this voice clip?", ("audio",), "audio-classification"),
    # not one task: small talk, several steps, or the input is missing
    ("hi!", (), None),
    ("thanks, that's great", (), None),
    ("how are you today?", (), None),
    ("transcribe this and then translate it to French", ("audio",), None),
    ("describe the picture and read the description aloud", ("image",), None),
    ("make a picture of a cat, then animate it into a video", (), None),
    ("detect the objects and also estimate the depth", ("image",), None),
    ("summarize this article and translate the summary into German: Rivers flood in spring.", (), None),
    ("transcribe this", (), None),  # no audio attached
    ("classify this image", (), None),  # no image attached
    ("segment the image, classify each part and finally caption it", ("image",), None),
]


def _kinds(lexicon: Lexicon, text: str) -> tuple[Kind, ...]:
    """TaskBench names files instead of attaching them; the named kinds stand in (newest = last)."""
    kinds: list[Kind] = []
    for m in lexicon.file_re.finditer(text):
        kind = lexicon.file_kinds[m.group(1).lower()]
        if kind not in kinds:
            kinds.insert(0, kind)
    return tuple(kinds)


def _items(router: TaskRouter, records: Sequence[TBRecord]) -> list[tuple[str, tuple[Kind, ...], str | None]]:
    out: list[tuple[str, tuple[Kind, ...], str | None]] = []
    for r in records:
        gold = r.nodes[0] if r.type == "single" and len(set(r.nodes)) == 1 else None
        out.append((r.request, _kinds(router.lexicon, r.request), gold))
    return out


_ROUTES: dict[tuple[str, tuple[Kind, ...]], Route] = {}


def route_all(router: TaskRouter, items: Sequence[tuple[str, tuple[Kind, ...], str | None]]) -> list[Route]:
    """Routes with the margin check off (``figures`` applies each threshold), cached per request."""
    saved = router.threshold
    router.threshold = 0.0
    try:
        for text, kinds, _ in items:
            if (text, kinds) not in _ROUTES:
                _ROUTES[(text, kinds)] = router.route(text, kinds)
    finally:
        router.threshold = saved
    return [_ROUTES[(text, kinds)] for text, kinds, _ in items]


def figures(items: Sequence[tuple[str, tuple[Kind, ...], str | None]], routes: Sequence[Route],
            threshold: float) -> tuple[float, float, float, int, int]:
    """precision, coverage (single), false-accept rate (multi), n single, n multi."""
    acc = [r.accepted and r.confidence >= threshold for r in routes]
    single = [(a, r.task == gold) for (_, _, gold), r, a in zip(items, routes, acc, strict=True) if gold]
    multi = [a for (_, _, gold), a in zip(items, acc, strict=True) if gold is None]
    accepted = [ok for a, ok in single if a]
    precision = sum(accepted) / len(accepted) if accepted else float("nan")
    coverage = len(accepted) / len(single) if single else float("nan")
    false_accept = sum(multi) / len(multi) if multi else float("nan")
    return precision, coverage, false_accept, len(single), len(multi)


def tune(items: Sequence[tuple[str, tuple[Kind, ...], str | None]], routes: Sequence[Route],
         target: float = 0.95, max_false_accept: float = 0.02) -> float:
    """The smallest threshold (step 0.01) with precision >= ``target`` on single-task requests and
    at most ``max_false_accept`` of multi-task requests accepted (a wrong fast path answers
    wrongly; a rejected one only falls through to the full planner)."""
    for step in range(0, 101):
        t = step / 100
        p, _, fa, _, _ = figures(items, routes, t)
        if p == p and p >= target and fa <= max_false_accept:  # p == p: not NaN
            return t
    return 1.0


def _row(name: str, f: tuple[float, float, float, int, int]) -> str:
    p, c, fa, ns, nm = f
    return f"{name:<22} {100 * p:9.1f} {100 * c:9.1f} {100 * fa:12.1f} {ns:>7} {nm:>6}"


def report_router(router: TaskRouter, records: Sequence[TBRecord]) -> float:
    tune_items = _items(router, split_half(records, "tune")) + CHAT
    sets = {
        "tune half + chat": tune_items,
        "tune half (TaskBench)": _items(router, split_half(records, "tune")),
        "held-out half": _items(router, split_half(records, "heldout")),
        "chat set": CHAT,
    }
    routed = {name: route_all(router, items) for name, items in sets.items()}
    best = tune(tune_items, routed["tune half + chat"])
    print(f"{'threshold':>9} {'tune P':>7} {'tune cov':>8} {'tune FA':>7}")
    for step in range(0, 61, 5):
        p, c, fa, _, _ = figures(tune_items, routed["tune half + chat"], step / 100)
        print(f"{step / 100:9.2f} {100 * p:7.1f} {100 * c:8.1f} {100 * fa:7.1f}")
    print(f"tuned threshold (precision >= 95%, false accepts <= 2% on tune half + chat): {best:.2f}; in router.yaml: {router.threshold:.2f}")
    for t in sorted({best, router.threshold}):
        print(f"\nthreshold {t:.2f}")
        print(f"{'set':<22} {'precision':>9} {'coverage':>9} {'false-accept':>12} {'single':>7} {'multi':>6}")
        for name, items in sets.items():
            print(_row(name, figures(items, routed[name], t)))
    wrong = [(text, r.task, gold) for (text, _, gold), r in zip(CHAT, routed["chat set"], strict=True)
             if r.accepted and r.confidence >= router.threshold and r.task != gold]
    for text, task, gold in wrong:
        print(f"  chat false accept: {text!r} -> {task} (gold {gold})")
    return best


def report_planner(router: TaskRouter, records: Sequence[TBRecord]) -> None:
    planner = EmbeddedPlanner(router)
    invalid: list[str] = []

    async def plan_fn(text: str) -> Plan | None:
        raw = planner.plan(text, [], allow_literal_files=True)
        try:
            return validate_plan(raw, handles={}, source="embedded", allow_literal_files=True)
        except PlanError as exc:
            invalid.append(f"{text[:60]!r}: {exc.problems}")
            return None

    async def fast_then_embedded(text: str) -> Plan | None:
        # What orchestrator.planner does without an LLM: the fast path first, else the rules.
        raw = router.plan(text, [])
        if raw is None:
            return await plan_fn(text)
        return validate_plan(raw, handles={}, source="router", allow_literal_files=True)

    for name, recs in (("all 352", list(records)), ("tune half (even ids)", split_half(records, "tune")),
                       ("held-out half (odd ids)", split_half(records, "heldout"))):
        print(f"\nEmbedded planner, TaskBench sample, {name}")
        print(format_report(asyncio.run(run_eval(recs, plan_fn))))
    print("\nFast path, then embedded planner (the product's no-LLM planner), all 352")
    print(format_report(asyncio.run(run_eval(list(records), fast_then_embedded))))
    times = []
    for r in records:
        start = time.perf_counter()
        planner.plan(r.request, [], allow_literal_files=True)
        times.append(1000 * (time.perf_counter() - start))
    times.sort()
    print(f"\nms per plan: median {statistics.median(times):.1f}, p95 {times[int(0.95 * len(times))]:.1f}, "
          f"max {times[-1]:.1f}")
    print(f"invalid plans: {len(invalid)}")
    for line in invalid[:5]:
        print("  ", line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--taskbench", type=Path, default=DEFAULT_TASKBENCH)
    ap.add_argument("--skip-planner", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)  # a shared 2-core box runs MiniLM faster on one thread
    start = time.perf_counter()
    router = TaskRouter.load()
    print(f"router loaded in {time.perf_counter() - start:.1f}s")
    records = load_taskbench(args.taskbench)
    report_router(router, records)
    if not args.skip_planner:
        report_planner(router, records)


if __name__ == "__main__":
    main()
