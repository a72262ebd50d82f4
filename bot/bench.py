"""``hgbot bench``: latency figures on this machine, printed as a Markdown table.

Runs on the configured profile (the embedded default unless an endpoint is set) in a throw-away
HGBOT_HOME, so it never touches real conversations.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from importlib import resources
from pathlib import Path

from orchestrator.planner import PlanningContext
from orchestrator.types import Attachment, ConversationKey, Reply, Request

from .config import Settings

PLANNING_REQUESTS = [
    "transcribe this recording",
    "read the text in this picture",
    "make a picture of a red bicycle in the snow",
    "say 'the build is green' out loud",
    "read the sign in this photo, translate it into French and read it aloud",
    "find the faces in this image and tell me how many there are",
    "summarize this paragraph: the quarterly numbers went up because sales in Europe doubled",
    "is this review positive or negative? the food was cold and the waiter rude",
]


def _sample() -> bytes:
    return resources.files("orchestrator.data").joinpath("samples/text.png").read_bytes()


def _cli_startup(repeat: int) -> tuple[float, bool]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bot.cli", "--version"], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    out = subprocess.run([sys.executable, "-c", "import sys, bot.cli, bot.app, orchestrator.pipeline;"
                          "print('torch' in sys.modules)"], check=True, capture_output=True, text=True).stdout
    return statistics.median(times), out.strip() == "True"


async def run_bench(settings: Settings, repeat: int = 3) -> int:
    from .app import build_app

    rows: list[tuple[str, str]] = []
    startup, torch_loaded = _cli_startup(repeat)
    rows.append(("CLI start-up (`hgbot --version`, median)", f"{startup * 1000:.0f} ms; torch imported: {torch_loaded}"))

    with tempfile.TemporaryDirectory() as home:
        app = await build_app(replace(settings, home=Path(home)))
        try:
            planner = app.orchestrator.planner
            t = time.perf_counter()
            await planner.plan(PlanningContext("warm up", (), ()))
            rows.append(("Planner load (router + embeddings, once per process)", f"{time.perf_counter() - t:.2f} s"))
            per_plan = []
            sources: dict[str, int] = {}
            for _ in range(repeat):
                for text in PLANNING_REQUESTS:
                    t = time.perf_counter()
                    plan = await planner.plan(PlanningContext(text, (), (), allow_literal_files=True, any_task=True))
                    per_plan.append(time.perf_counter() - t)
                    sources[plan.source] = sources.get(plan.source, 0) + 1
            rows.append((f"Planning, {len(PLANNING_REQUESTS)} requests × {repeat} (median / max)",
                         f"{statistics.median(per_plan) * 1000:.1f} / {max(per_plan) * 1000:.1f} ms; planned by "
                         + ", ".join(f"{k} {v}" for k, v in sorted(sources.items()))))

            async def ask(text: str, channel: str, with_image: bool = True) -> Reply:
                atts = (Attachment("sample.png", _sample(), "image/png"),) if with_image else ()
                return await app.orchestrator.handle(Request(ConversationKey("bench", "", channel), text, atts))

            cold = await ask("read the text in this image aloud", "cold")
            warm = [await ask("read the text in this image aloud", f"warm{i}") for i in range(repeat)]
            rows.append(("OCR → speech request, cold (loads both models)", _req(cold)))
            rows.append(("OCR → speech request, warm (models cached), median",
                         _req(sorted(warm, key=lambda r: r.seconds)[len(warm) // 2])))
            # Two independent steps: speech made in this conversation, then transcribed while the
            # image is read.
            await ask("say 'the meeting starts at noon' out loud", "par", with_image=False)
            par = await ask("transcribe the recording, and also read the text in this image", "par")
            timed = [r for r in par.runs if r.started_at is not None and r.finished_at is not None]
            if len(timed) >= 2:
                ends = [(r.started_at or 0.0, r.finished_at or 0.0) for r in timed]  # none is None (filtered)
                busy = sum(end - start for start, end in ends)
                span = max(end for _, end in ends) - min(start for start, _ in ends)
                rows.append((f"Independent steps ({' ‖ '.join(r.task for r in timed)}): sum of step times vs wall time",
                             f"{busy:.2f} s vs {span:.2f} s"))
        finally:
            await app.close()

    print("| Measure | Result |\n| --- | --- |")
    for k, v in rows:
        print(f"| {k} | {v} |")
    return 0


def _req(reply: Reply) -> str:
    if reply.error:
        return f"failed: {reply.error}"
    steps = ", ".join(f"{r.task} {r.seconds:.2f} s" for r in reply.runs)
    return f"{reply.seconds:.2f} s total ({steps}); {reply.llm_calls} LLM calls; planned by {reply.plan.source if reply.plan else '-'}"


if __name__ == "__main__":  # pragma: no cover
    from .config import load_settings

    sys.exit(asyncio.run(run_bench(load_settings())))
