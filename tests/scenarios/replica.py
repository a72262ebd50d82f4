"""One bot replica for the replica scenarios: a real ``App`` (``build_app``) on a shared database,
like one ``hgbot serve``, given platform deliveries as JSON lines on stdin.

    python -m tests.scenarios.replica NAME DATABASE_URL HOME LLM_URL STEP_SECONDS

Each stdin line ``{"delivery": …, "key": [platform, workspace, channel, thread], "text": …, "marker": …}`` is
handled at once (a task of its own, as a bot does with concurrent events) through
``app.service.handle``. The only model is a ``summarization`` card on a backend that sleeps
``STEP_SECONDS`` and records when it ran for which input text (the plan passes the marker as the
text; wall clock, comparable across processes on one host).
Prints ``{"ready": NAME}`` once serving, then one line per delivery handled, and exits at EOF
after the last one.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.backends import BackendRegistry
from orchestrator.backends.base import Device, Inputs
from orchestrator.catalog import ModelCard
from orchestrator.types import ConversationKey, Output, Request, TextOutput


@dataclass
class TimedModel:
    """Sleeps like a model step, and records (start, end) per input text."""

    seconds: float
    steps: dict[str, tuple[float, float]]
    size_bytes: int = 1

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        text = str(inputs.get("text", ""))
        start = time.time()
        time.sleep(self.seconds)
        self.steps[text] = (start, time.time())
        return [TextOutput(f"summary of {text}")]


@dataclass
class TimedBackend:
    seconds: float
    steps: dict[str, tuple[float, float]] = field(default_factory=dict)

    def available(self) -> str | None:
        return None

    def load(self, card: ModelCard, device: Device) -> TimedModel:
        return TimedModel(self.seconds, self.steps)


async def serve(name: str, database_url: str, home: Path, llm_url: str, step_s: float) -> None:
    from bot.app import build_app
    from bot.config import Settings

    home.mkdir(parents=True, exist_ok=True)
    catalog = home / "catalog.jsonl"
    catalog.write_text(json.dumps({"id": "timed", "task": "summarization", "backend": "timed", "size": 1000,
                                   "description": "test"}) + "\n", encoding="utf-8")
    backend = TimedBackend(step_s)
    registry = BackendRegistry.default()
    registry.register("timed", backend)
    app = await build_app(Settings(home=home, database_url=database_url, llm_base_url=llm_url, llm_api_key="k",
                                   llm_model="fake", llm_max_retries=0, device="cpu", memory_budget_mb=512,
                                   fast_path=False, catalog=str(catalog)), backends=registry)
    service = app.service
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []

    async def handle(line: dict[str, Any]) -> None:
        text = line["text"]
        reply = await service.handle(Request(ConversationKey(*line["key"]), text, delivery_id=line["delivery"]))
        start, end = backend.steps.get(line["marker"], (None, None))
        print(json.dumps({"replica": name, "delivery": line["delivery"], "marker": line["marker"],
                          "duplicate": reply.duplicate,
                          "reply": reply.text, "error": reply.error, "start": start, "end": end}), flush=True)

    print(json.dumps({"ready": name}), flush=True)
    try:
        while raw := await loop.run_in_executor(None, sys.stdin.readline):
            tasks.append(asyncio.create_task(handle(json.loads(raw))))
        await asyncio.gather(*tasks)
    finally:
        await app.close()


if __name__ == "__main__":
    replica, url, home_dir, llm, seconds = sys.argv[1:6]
    asyncio.run(serve(replica, url, Path(home_dir), llm, float(seconds)))
