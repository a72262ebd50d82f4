"""The fair queue: caps, round-robin across users, positions and estimates, slots freed on cancel."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.queue import FairQueue, QueueEntry


async def _job(queue: FairQueue, job_id: int, user: str, channel: str, started: list[int],
               release: asyncio.Event, moves: list[tuple[int, float | None]] | None = None) -> None:
    async def on_move(position: int, eta: float | None) -> None:
        if moves is not None:
            moves.append((position, eta))

    async with queue.slot(QueueEntry(job_id, user, channel), on_move):
        started.append(job_id)
        await release.wait()


async def _step(started: list[int], release: dict[int, asyncio.Event], n: int) -> None:
    """Let the oldest running job finish and wait until the next one starts."""
    before = len(started)
    release[started[before - 1]].set()
    for _ in range(100):
        await asyncio.sleep(0)
        if len(started) > before or len(started) >= n:
            return


async def test_one_users_twenty_requests_do_not_starve_anothers_one() -> None:
    queue = FairQueue(capacity=1, per_user=1, per_channel=5)
    started: list[int] = []
    release = {i: asyncio.Event() for i in range(22)}
    tasks = [asyncio.create_task(_job(queue, i, "alice", "c1", started, release[i])) for i in range(20)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(_job(queue, 20, "bob", "c1", started, release[20])))
    await asyncio.sleep(0)
    assert started == [0]
    await _step(started, release, 21)
    await _step(started, release, 21)
    assert started[:2] == [0, 20]  # bob's one request is next, not 21st
    for i in range(21):
        release[i].set()
    await asyncio.gather(*tasks)
    assert sorted(started) == list(range(21)) and queue.depth == 0 and queue.running == 0


async def test_caps_per_user_and_per_channel() -> None:
    queue = FairQueue(capacity=3, per_user=1, per_channel=2)
    started: list[int] = []
    release = {i: asyncio.Event() for i in range(4)}
    tasks = [asyncio.create_task(_job(queue, 0, "a", "c1", started, release[0])),
             asyncio.create_task(_job(queue, 1, "a", "c2", started, release[1])),  # a already runs one
             asyncio.create_task(_job(queue, 2, "b", "c1", started, release[2])),
             asyncio.create_task(_job(queue, 3, "c", "c1", started, release[3]))]  # c1 is full (2)
    for _ in range(5):
        await asyncio.sleep(0)
    assert started == [0, 2] and queue.running == 2 and queue.depth == 2
    release[0].set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert set(started) == {0, 2, 1, 3}
    for e in release.values():
        e.set()
    await asyncio.gather(*tasks)


async def test_position_and_estimate_update_as_the_line_moves() -> None:
    queue = FairQueue(capacity=1, per_user=1, per_channel=9)
    queue.record(10.0)
    queue.record(20.0)  # mean 15 s per job
    started: list[int] = []
    release = {i: asyncio.Event() for i in range(4)}
    moves: list[tuple[int, float | None]] = []
    tasks = [asyncio.create_task(_job(queue, i, f"u{i}", "c", started, release[i])) for i in range(3)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(_job(queue, 3, "u3", "c", started, release[3], moves)))
    for _ in range(5):
        await asyncio.sleep(0)
    assert moves[-1] == (3, 45.0)  # 3rd in line behind two, one slot, 15 s each
    for i in range(3):
        release[i].set()
        for _ in range(10):
            await asyncio.sleep(0)
    assert [p for p, _ in moves] == [3, 2, 1, 0][: len(moves)] and moves[-1][0] in (0, 1)
    release[3].set()
    await asyncio.gather(*tasks)
    assert started == [0, 1, 2, 3]


async def test_cancelling_frees_the_slot_at_once() -> None:
    queue = FairQueue(capacity=1)
    started: list[int] = []
    release = {i: asyncio.Event() for i in range(3)}
    running = asyncio.create_task(_job(queue, 0, "a", "c", started, release[0]))
    waiting = asyncio.create_task(_job(queue, 1, "b", "c", started, release[1]))
    last = asyncio.create_task(_job(queue, 2, "c", "c", started, release[2]))
    for _ in range(3):
        await asyncio.sleep(0)
    waiting.cancel()  # leaves the line: the third moves up
    running.cancel()  # a running job cancelled: its slot goes to the next at once
    for _ in range(5):
        await asyncio.sleep(0)
    assert started == [0, 2]
    release[2].set()
    await last
    for t in (running, waiting):
        with pytest.raises(asyncio.CancelledError):
            await t
    assert queue.depth == 0 and queue.running == 0
