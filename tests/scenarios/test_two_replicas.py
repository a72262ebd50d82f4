"""Two bot replicas on one Postgres (issue 9): two processes, each a real ``App`` with its own
connection pools (``tests/scenarios/replica.py``), given 50 messages over two conversations, 15 of
them delivered twice to a replica picked at random. Every message is answered exactly once, and in
each conversation the turns never overlap, run in the order the messages were sent, and each sees
all the earlier ones: the delivery claim and the conversation lock are decided by the database.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.llm_server import FakeLLMServer
from tests.storage.conftest import postgres_db, postgres_url  # noqa: F401  (the local Postgres fixtures)

ROOT = Path(__file__).resolve().parents[2]
CONVERSATIONS = (("slack", "T1", "C1", "100.1"), ("slack", "T1", "C2", "200.1"))
STEP_S = 0.12  # the model step of every turn: long enough for turns to queue behind each other
GAP_S = 0.05  # between deliveries, as a platform sends them
_MARKER = re.compile(r"msg-\d+")


class Planner:
    """The fake LLM's planner: one summarization step of the request's marker; remembers which
    earlier markers each request's prompt showed (the conversation so far)."""

    def __init__(self) -> None:
        self.seen: dict[str, list[str]] = {}

    def __call__(self, body: dict[str, Any]) -> Any:
        if not body.get("response_format"):
            return "ok"
        history, _, request = str(body["messages"][-1].get("content", "")).partition("Request:")
        marker = _MARKER.findall(request)[0]
        self.seen[marker] = list(dict.fromkeys(_MARKER.findall(history)))
        return {"tasks": [{"id": 1, "task": "summarization", "deps": [], "args": {"text": marker}, "model": None}]}


async def _start(name: str, db: str, home: Path, llm: FakeLLMServer) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HGBOT_", "OPENAI_", "SLACK_", "DISCORD_"))}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.scenarios.replica", name, db, str(home), llm.base_url, str(STEP_S),
        cwd=str(ROOT), env={**env, "PYTHONPATH": str(ROOT)}, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=open(home.parent / f"{name}.log", "wb"))  # noqa: SIM115


async def _warm_up(name: str, proc: asyncio.subprocess.Process, turns: int = 8) -> None:
    """Turns in conversations of their own, all at once, before the measured run: the model is
    loaded and the replica's pool holds warm lock connections. Otherwise a replica's first turns
    reach the database lock late (a cold start, a new connection each), and a message sent 50 ms
    after another on the other replica could overtake it: the order is the order messages reach
    the database, which messages of one chat thread, seconds apart, always keep."""
    assert proc.stdin is not None and proc.stdout is not None
    for i in range(turns):
        proc.stdin.write(json.dumps({"delivery": f"warm-{name}-{i}", "key": ["slack", "T1", f"W-{name}-{i}", ""],
                                     "text": f"summarize msg-9{i:02d}", "marker": f"msg-9{i:02d}"}).encode() + b"\n")
    await proc.stdin.drain()
    for _ in range(turns):
        assert not json.loads(await proc.stdout.readline())["error"]


async def _lines(proc: asyncio.subprocess.Process) -> list[dict[str, Any]]:
    assert proc.stdout is not None
    return [json.loads(raw) for raw in (await proc.stdout.read()).decode().splitlines() if raw.strip()]


@pytest.mark.slow  # two App start-ups plus ~6 s of paced, queued turns
async def test_two_replica_processes_answer_once_and_take_turns_in_order(
        tmp_path: Path, postgres_db: str, fake_llm: FakeLLMServer) -> None:  # noqa: F811
    planner = Planner()
    fake_llm.script(*[planner] * 400)
    replicas = {name: await _start(name, postgres_db, tmp_path / name, fake_llm) for name in ("r1", "r2")}
    try:
        for name, proc in replicas.items():
            assert proc.stdout is not None
            ready = await asyncio.wait_for(proc.stdout.readline(), 120)
            assert json.loads(ready or b"{}") == {"ready": name}, (tmp_path / f"{name}.log").read_text()
        await asyncio.wait_for(asyncio.gather(*(_warm_up(name, proc) for name, proc in replicas.items())), 120)
        rng = random.Random(9)
        events = [(f"Ev{i:03d}", CONVERSATIONS[rng.randrange(2)], f"msg-{i:03d}") for i in range(50)]
        deliveries = list(events)
        for event in rng.sample(events, 15):  # a platform retry, to the same or the other replica
            deliveries.insert(deliveries.index(event) + rng.randint(1, 3), event)
        for delivery, key, marker in deliveries:
            proc = replicas[rng.choice(sorted(replicas))]
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"delivery": delivery, "key": key, "text": f"summarize {marker}",
                                         "marker": marker}).encode() + b"\n")
            await proc.stdin.drain()
            await asyncio.sleep(GAP_S)
        for proc in replicas.values():
            assert proc.stdin is not None
            proc.stdin.close()
        outputs = await asyncio.wait_for(asyncio.gather(*(_lines(p) for p in replicas.values())), 120)
        for proc in replicas.values():
            assert await proc.wait() == 0
    finally:
        for proc in replicas.values():
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    lines = [line for out in outputs for line in out]
    answered = [line for line in lines if not line["duplicate"]]
    # every message answered exactly once, by one replica or the other; every duplicate refused
    assert sorted(line["delivery"] for line in answered) == [d for d, _, _ in events]
    assert len(lines) == len(deliveries)
    assert all(line["error"] is None and line["reply"] == f"summary of {line['marker']}" for line in answered)
    assert {line["replica"] for line in answered} == {"r1", "r2"}
    steps = {line["marker"]: (line["start"], line["end"]) for line in answered}
    for key in CONVERSATIONS:
        sent = [marker for _, k, marker in events if k == key]
        ran = sorted(sent, key=lambda m: steps[m][0])
        for before, after in zip(ran, ran[1:], strict=False):
            assert steps[before][1] <= steps[after][0], f"{before} and {after} overlapped"
        assert ran == sent  # in the order the messages were sent, across both replicas
        for i, marker in enumerate(sent):
            # each turn's prompt showed the turns before it, up to the one just before (older ones
            # fall out of the prompt's history budget), and none after
            seen = planner.seen[marker]
            assert seen == (sent[:i][-len(seen):] if seen else []) and (i == 0 or seen[-1:] == [sent[i - 1]])
