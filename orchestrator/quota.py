"""Daily device-second budgets per user and per channel (GPU seconds on a GPU, CPU seconds otherwise).

A day is a UTC day. A budget of 0 means unlimited; admins are never limited. The check runs
when a request is accepted, so an over-budget request is refused before it queues, with a
sentence saying when the budget resets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from .errors import JobRefused


class UsageSource(Protocol):
    async def usage_seconds(self, since: float, *, user: str | None = None, channel: str | None = None) -> float: ...


class Quota:
    def __init__(self, usage: UsageSource, *, user_seconds: float = 0.0, channel_seconds: float = 0.0,
                 admins: Iterable[str] = (), clock: Callable[[], float] = time.time) -> None:
        self.usage = usage
        self.user_seconds = user_seconds
        self.channel_seconds = channel_seconds
        self.admins = frozenset(admins)
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return self.user_seconds > 0 or self.channel_seconds > 0

    def day_bounds(self) -> tuple[float, float]:
        now = datetime.fromtimestamp(self.clock(), UTC)
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.timestamp(), (start + timedelta(days=1)).timestamp()

    async def check(self, user: str, channel: str) -> None:
        """Raise ``JobRefused`` (with ``resets_at``) when the user or the channel spent today's budget."""
        if not self.enabled or user in self.admins:
            return
        start, reset = self.day_bounds()
        for who, budget, used in (
            ("You have", self.user_seconds,
             await self.usage.usage_seconds(start, user=user) if self.user_seconds > 0 else 0.0),
            ("This channel has", self.channel_seconds,
             await self.usage.usage_seconds(start, channel=channel) if self.channel_seconds > 0 else 0.0),
        ):
            if budget > 0 and used >= budget:
                raise JobRefused(
                    f"{who} used {used:.0f} of {budget:.0f} device-seconds today, so I can't take this request. "
                    f"The budget resets at 00:00 UTC ({_until(reset - self.clock())}).", resets_at=reset)


def _until(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"in {minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"in {minutes} min"
