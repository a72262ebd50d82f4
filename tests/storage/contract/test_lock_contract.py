"""What every store's ``conversation_lock`` must do (memory, SQLite, Postgres): one turn at a time
per conversation, in the order asked, other conversations not held up, released however the turn ends."""

from __future__ import annotations

import asyncio
import time

import pytest

from orchestrator.store import Store
from orchestrator.types import ConversationKey

A = ConversationKey("slack", "T1", "C1", "1700000000.000100")
B = ConversationKey("slack", "T1", "C1", "1700000000.000200")
WAIT_S = 5.0  # far above any lock hand-over; only reached when a lock is not released


async def _turn(store: Store, key: ConversationKey, name: str, log: list[tuple[str, str, float]],
                hold: float = 0.05, started: asyncio.Event | None = None) -> None:
    async with store.conversation_lock(key):
        log.append((name, "start", time.monotonic()))
        if started is not None:
            started.set()
        await asyncio.sleep(hold)
        log.append((name, "end", time.monotonic()))


async def test_holders_of_one_key_take_turns_in_the_order_they_asked(store: Store) -> None:
    log: list[tuple[str, str, float]] = []
    started = asyncio.Event()
    tasks = [asyncio.create_task(_turn(store, A, "t0", log, started=started))]
    await asyncio.wait_for(started.wait(), WAIT_S)
    for i in range(1, 4):
        tasks.append(asyncio.create_task(_turn(store, A, f"t{i}", log, hold=0.02)))
        await asyncio.sleep(0.03)  # each waiter is queued before the next one asks
    await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S)
    # strictly start, end, start, end, ...: no two turns of the conversation overlap, first come first served
    assert [(n, what) for n, what, _ in log] == [(f"t{i}", what) for i in range(4) for what in ("start", "end")]


async def _hold(store: Store, key: ConversationKey) -> tuple[asyncio.Task[None], asyncio.Event]:
    """A task holding ``key``'s lock until the returned event is set."""
    release, held = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with store.conversation_lock(key):
            held.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.wait_for(held.wait(), WAIT_S)
    return holder, release


async def test_different_keys_do_not_wait_for_each_other(store: Store) -> None:
    holder, release = await _hold(store, A)
    try:
        async with asyncio.timeout(WAIT_S):  # B goes ahead while A is still held
            async with store.conversation_lock(B):
                assert not holder.done()
    finally:
        release.set()
        await holder


async def test_a_holder_that_raises_releases_the_lock(store: Store) -> None:
    with pytest.raises(ZeroDivisionError):
        async with store.conversation_lock(A):
            raise ZeroDivisionError
    async with asyncio.timeout(WAIT_S), store.conversation_lock(A):
        pass


async def test_a_waiter_cancelled_while_waiting_leaves_nothing_locked(store: Store) -> None:
    holder, release = await _hold(store, A)
    waiter = asyncio.create_task(_turn(store, A, "cancelled", []))
    await asyncio.sleep(0.1)  # the waiter is waiting (in the database, for Postgres)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    await holder
    async with asyncio.timeout(WAIT_S), store.conversation_lock(A):
        pass


async def test_a_cancelled_holder_releases_the_lock(store: Store) -> None:
    started = asyncio.Event()
    holder = asyncio.create_task(_turn(store, A, "holder", [], hold=60, started=started))
    await asyncio.wait_for(started.wait(), WAIT_S)
    holder.cancel()  # a turn cancelled mid-way (Ctrl-C, a cancelled job)
    with pytest.raises(asyncio.CancelledError):
        await holder
    async with asyncio.timeout(WAIT_S), store.conversation_lock(A):
        pass
