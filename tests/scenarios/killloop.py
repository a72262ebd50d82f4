"""A process that ``kill -9``s ``hgbot serve`` at random moments and starts it again (the kill loops)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_MARKER = re.compile(r"msg-\d+")


def echo(body: dict[str, Any]) -> Any:
    """The fake LLM's answer for the loops: plain chat, answered with the request's marker."""
    if body.get("response_format"):
        return {"tasks": []}
    found = _MARKER.findall(str(body["messages"][-1].get("content", "")))
    return f"echo {found[-1]}" if found else "echo"


def serve_env(home: Path, llm_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "HGBOT_", "OPENAI_"))}
    env.update({"PYTHONPATH": str(ROOT), "HGBOT_HOME": str(home), "OPENAI_BASE_URL": llm_url, "OPENAI_API_KEY": "k",
                "HGBOT_LLM_MODEL": "fake", "HGBOT_LLM_MAX_RETRIES": "0", "HGBOT_FAST_PATH": "0",
                "HGBOT_CATALOG": "offline", "HGBOT_DEVICE": "cpu", "HGBOT_MAX_JOBS": "2", "HGBOT_USER_JOBS": "2",
                "HGBOT_CHANNEL_JOBS": "2"})
    env.update(extra)
    return env


@dataclass
class KillLoop:
    """Runs ``hgbot serve PLATFORM`` and kills it (SIGKILL) ``kills`` times at random moments after
    ``ready()`` says it is connected; restarts it after each kill."""

    platform: str
    env: dict[str, str]
    ready: Callable[[], Awaitable[None]]
    kills: int
    alive: tuple[float, float] = (0.3, 1.5)
    seed: int = 10
    proc: asyncio.subprocess.Process | None = None
    killed: int = 0
    kill_times: list[float] = field(default_factory=list)
    log: Path | None = None

    async def start(self) -> None:
        out = open(self.log, "ab") if self.log else asyncio.subprocess.DEVNULL  # noqa: SIM115
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "serve", self.platform, cwd=str(ROOT), env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=out)

    async def run(self) -> None:
        rng = random.Random(self.seed)
        await self.start()
        while self.killed < self.kills:
            await self.ready()
            await asyncio.sleep(rng.uniform(*self.alive))
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()
            self.kill_times.append(time.monotonic())
            self.killed += 1
            await self.start()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
