"""The fair work queue: one per process, shared by Slack, Discord and the CLI.

A job waits here until it may run. At most ``capacity`` jobs run at once, at most ``per_user``
of one user and ``per_channel`` in one channel; among the users with waiting jobs the next slot
goes round-robin, so one user's twenty requests do not starve another's one. Within a user,
jobs run in arrival order (the first one whose channel has room).

Waiting is ``async with queue.slot(entry, on_move=...)``: ``on_move(position, eta)`` is called
when the job's place in line changes (1 = next). Leaving the block (or cancelling the task
while it waits) frees the slot at once and hands it to the next job.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

OnMove = Callable[[int, float | None], Awaitable[None]]


@dataclass(eq=False)
class QueueEntry:
    job_id: int
    user: str
    channel: str
    granted: bool = False
    seq: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class FairQueue:
    def __init__(self, *, capacity: int = 2, per_user: int = 1, per_channel: int = 2, history: int = 20) -> None:
        if min(capacity, per_user, per_channel) < 1:
            raise ValueError("queue capacity and caps must be at least 1")
        self.capacity = capacity
        self.per_user = per_user
        self.per_channel = per_channel
        self._waiting: OrderedDict[str, deque[QueueEntry]] = OrderedDict()
        self._running: dict[int, QueueEntry] = {}
        self._served: dict[str, int] = {}  # user -> when a job of theirs last started (a tick)
        self._tick = 0
        self._durations: deque[float] = deque(maxlen=history)

    # -- public -------------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Jobs waiting (not running)."""
        return sum(len(q) for q in self._waiting.values())

    @property
    def running(self) -> int:
        return len(self._running)

    def record(self, seconds: float) -> None:
        """A finished job's running time: the estimate is the mean of the recent ones."""
        self._durations.append(seconds)

    def estimate(self, position: int) -> float | None:
        """Seconds until a job at ``position`` starts, from recent job times; None before any finished."""
        if not self._durations:
            return None
        mean = sum(self._durations) / len(self._durations)
        return math.ceil(position / self.capacity) * mean

    def position(self, entry: QueueEntry) -> int:
        """1-based place among waiting jobs in round-robin order (0 once it runs)."""
        if entry.granted:
            return 0
        order = self._order()
        return order.index(entry) + 1 if entry in order else 0

    @asynccontextmanager
    async def slot(self, entry: QueueEntry, on_move: OnMove | None = None) -> AsyncIterator[None]:
        self._tick += 1
        entry.seq = self._tick
        self._waiting.setdefault(entry.user, deque()).append(entry)
        self._dispatch()
        started: float | None = None
        try:
            shown: tuple[int, float | None] | None = None
            while not entry.granted:
                entry.wake.clear()
                now = (self.position(entry), self.estimate(self.position(entry)))
                if on_move is not None and now != shown:
                    shown = now
                    await on_move(*now)
                if not entry.granted:
                    await entry.wake.wait()
            started = time.monotonic()
            yield
        finally:
            self._remove(entry)
            if started is not None:
                self.record(time.monotonic() - started)
            self._dispatch()

    # -- internals ------------------------------------------------------------------------------

    def _order(self) -> list[QueueEntry]:
        """Waiting entries in the order round-robin would start them, ignoring caps."""
        queues = [list(self._waiting[u]) for u in self._rotation()]
        out: list[QueueEntry] = []
        for depth in range(max((len(q) for q in queues), default=0)):
            out += [q[depth] for q in queues if depth < len(q)]
        return out

    def _remove(self, entry: QueueEntry) -> None:
        self._running.pop(entry.job_id, None)
        waiting = self._waiting.get(entry.user)
        if waiting is not None and entry in waiting:
            waiting.remove(entry)
            if not waiting:
                del self._waiting[entry.user]

    def _dispatch(self) -> None:
        """Start what may start, then wake every waiter: places in line may have changed."""
        while len(self._running) < self.capacity:
            chosen = self._next()
            if chosen is None:
                break
            self._remove(chosen)
            chosen.granted = True
            self._running[chosen.job_id] = chosen
            chosen.wake.set()
            self._tick += 1
            self._served[chosen.user] = self._tick  # the user goes to the back of the round
        for queue in self._waiting.values():
            for entry in queue:
                entry.wake.set()

    def _rotation(self) -> list[str]:
        """Users with waiting jobs, least recently served first (never served: by arrival)."""
        return sorted(self._waiting, key=lambda u: (self._served.get(u, 0), self._waiting[u][0].seq))

    def _next(self) -> QueueEntry | None:
        by_user: dict[str, int] = {}
        by_channel: dict[str, int] = {}
        for e in self._running.values():
            by_user[e.user] = by_user.get(e.user, 0) + 1
            by_channel[e.channel] = by_channel.get(e.channel, 0) + 1
        for user in self._rotation():
            queue = self._waiting[user]
            if by_user.get(user, 0) >= self.per_user:
                continue
            for entry in queue:
                if by_channel.get(entry.channel, 0) < self.per_channel:
                    return entry
        return None
