"""The job layer's figures: Slack ack latency with 20 jobs queued, queue overhead per job, and the
time from a ``kill -9`` of ``hgbot serve slack`` to the interrupted notice after the restart.

    python bench/jobs.py [--acks 100] [--jobs 300] [--kills 5]

Everything runs on 127.0.0.1 against the test fakes (Slack Web API + Socket Mode, an
OpenAI-compatible LLM): no network, no model weights.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def held_llm() -> Any:
    """The test's scripted LLM, answering only once ``release()`` is called: a job that holds its slot."""
    from aiohttp import web

    from tests.fakes.llm_server import FakeLLMServer

    class HeldLLM(FakeLLMServer):
        def __init__(self) -> None:
            super().__init__()
            self.gate = asyncio.Event()

        def release(self) -> None:
            self.gate.set()

        async def _completions(self, request: web.Request) -> web.StreamResponse:
            self.requests.append({"held": True})
            await self.gate.wait()
            return await super()._completions(request)

    return HeldLLM()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def ack_latency(acks: int = 100, queued: int = 20, home: Path | None = None) -> list[float]:
    """Seconds from pushing a mention over Socket Mode to its ack, while ``queued`` jobs wait behind a
    running one (one slot, a 30 s LLM call holds it)."""
    from adapters.slack import serve_slack
    from bot.app import build_app
    from bot.config import Settings
    from tests.adapters.slack.fake_slack import FakeSlack
    from tests.adapters.slack.harness import mention

    slack, llm = FakeSlack(), held_llm()  # the running job never finishes during the measurement
    await slack.start()
    await llm.start()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=home or Path(tmp), llm_base_url=llm.base_url, llm_api_key="k", llm_model="fake",
                            llm_max_retries=0, device="cpu", fast_path=False, catalog="offline",
                            slack_bot_token=slack.token, slack_app_token=slack.app_token, slack_api_url=slack.api_url,
                            max_jobs=1, user_jobs=1, channel_jobs=1)
        app = await build_app(settings)
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve_slack(app, on_ready=lambda where: ready.set_result(where)))
        try:
            await asyncio.wait_for(ready, 30)
            for i in range(queued + 1):
                await slack.wait_ack(await slack.push("events_api", mention(slack, f"filler {i}", user=f"U{i}")))
            await slack.wait_for(lambda: app.jobs.queue.depth >= queued, 30, "the queue to fill")
            out = []
            for i in range(acks):
                envelope = await slack.push("events_api", mention(slack, f"measured {i}", user=f"UM{i % 7}"))
                ack = await slack.wait_ack(envelope, 10)
                out.append(ack.at - slack.pushed_at[envelope])
                await asyncio.sleep(0.02)
            return out
        finally:
            llm.release()  # the held job ends, so the shutdown's drain has nothing to wait for
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await app.close()
            await slack.stop()
            await llm.stop()


async def queue_overhead(jobs: int = 300) -> tuple[float, float]:
    """Milliseconds per job of the job layer around a no-op ``work``: (fair queue alone, accept + run
    with the three store writes: queued, running, done)."""
    from orchestrator.jobs import JobContext, Jobs
    from orchestrator.queue import FairQueue, QueueEntry
    from storage import SqliteStore

    queue = FairQueue(capacity=4)
    started = time.perf_counter()
    for i in range(jobs):
        async with queue.slot(QueueEntry(i, f"u{i % 5}", "c")):
            pass
    bare = (time.perf_counter() - started) / jobs * 1000

    async def work(ctx: JobContext) -> None:
        return None

    with tempfile.TemporaryDirectory() as tmp:
        store = await SqliteStore.open(Path(tmp) / "db.sqlite3", Path(tmp) / "a")
        layer = Jobs(store)
        from orchestrator.types import ConversationKey

        key = ConversationKey("bench", "w", "c", "t")
        started = time.perf_counter()
        for i in range(jobs):
            job = await layer.accept(key, user=f"u{i % 5}", text="x")
            assert job is not None
            await layer.run(job, work)
        full = (time.perf_counter() - started) / jobs * 1000
        await store.close()
    return bare, full


async def kill_to_notice(kills: int = 5) -> list[float]:
    """Seconds from ``kill -9`` of ``hgbot serve slack`` (with a job running) to the interrupted notice
    in that job's thread, posted by the restarted process."""
    from orchestrator.jobs import INTERRUPTED_TEXT
    from tests.adapters.slack.fake_slack import FakeSlack
    from tests.adapters.slack.harness import CHANNEL, mention
    from tests.scenarios.killloop import ROOT, serve_env

    slack, llm = FakeSlack(), held_llm()
    await slack.start()
    await llm.start()
    out: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = serve_env(Path(tmp), llm.base_url, SLACK_BOT_TOKEN=slack.token, SLACK_APP_TOKEN=slack.app_token,
                        SLACK_API_URL=slack.api_url)

        async def start() -> Any:
            seen = slack.connections
            proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "serve", "slack", cwd=str(ROOT),
                                                        env=env, stderr=asyncio.subprocess.DEVNULL)
            await slack.wait_for(lambda: slack.connections > seen, 60, "serve to connect")
            return proc

        proc = await start()
        try:
            for i in range(kills):
                body = mention(slack, f"job {i}")
                thread = body["event"]["ts"]
                await slack.wait_ack(await slack.push("events_api", body), 10)
                await slack.wait_for(lambda i=i: len(llm.requests) > i, 10, "the job running")  # type: ignore[misc]
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
                killed = time.monotonic()
                proc = await start()
                await slack.wait_for(lambda: INTERRUPTED_TEXT in slack.bot_texts(CHANNEL, thread), 60, "the notice")  # noqa: B023
                out.append(time.monotonic() - killed)
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            llm.release()
            await slack.stop()
            await llm.stop()
    return out


async def main(args: argparse.Namespace) -> None:
    acks = await ack_latency(args.acks)
    print(f"Slack ack latency, 20 jobs queued ({len(acks)} acks): p50 {pct(acks, 0.5) * 1000:.1f} ms, "
          f"p99 {pct(acks, 0.99) * 1000:.1f} ms, max {max(acks) * 1000:.1f} ms")
    bare, full = await queue_overhead(args.jobs)
    print(f"Queue overhead per job ({args.jobs} jobs): fair queue {bare:.3f} ms; accept + run with the store "
          f"{full:.2f} ms")
    times = await kill_to_notice(args.kills)
    print(f"kill -9 → interrupted notice ({len(times)} kills): median {statistics.median(times):.2f} s, "
          f"max {max(times):.2f} s (includes the restart)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acks", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--kills", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
