"""Two replicas on one Postgres (issue 9): each delivery answered once, each conversation in order.

Both "replicas" are ``PostgresStore`` instances with their own connection pools, so the delivery
claim and the conversation lock are decided by the database, not by anything in this process.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from orchestrator.types import ConversationKey
from storage import MemoryBlobStore

CONVERSATIONS = (ConversationKey("slack", "T1", "C1", "100.1"), ConversationKey("slack", "T1", "C2", "200.1"))


async def _turn(store: Any, delivery: str, key: ConversationKey, seq: int, answered: list[tuple[str, str]],
                name: str) -> None:
    """What a bot does with one platform event: claim it, then one turn under the conversation's lock."""
    if not await store.claim_delivery(delivery):
        return  # a duplicate (a platform retry, or the other replica got it first)
    async with store.conversation_lock(key):
        conv = await store.conversation(key)
        before = len(await store.history(conv, 1000))
        await store.add_message(conv, "user", f"q{seq}")
        await asyncio.sleep(random.uniform(0.002, 0.012))  # the model step: other turns would interleave here
        await store.add_message(conv, "assistant", f"a{seq} after {before}")
    answered.append((delivery, name))


@pytest.mark.slow  # about 2.5 s of paced arrivals, plus the Postgres server on first use
async def test_two_replicas_answer_each_delivery_once_and_each_conversation_in_order(
        open_postgres: Callable[..., Awaitable[Any]]) -> None:
    rng = random.Random(9)
    blobs = MemoryBlobStore()
    replicas = {"r1": await open_postgres(blobs), "r2": await open_postgres(blobs)}
    # 50 messages over two conversations, in the order users sent them; 15 arrive twice (a retry
    # to the same or the other replica), and each delivery goes to a replica picked at random.
    events = [(f"Ev{i:03d}", CONVERSATIONS[rng.randrange(2)], i) for i in range(50)]
    deliveries = list(events)
    for event in rng.sample(events, 15):
        deliveries.insert(deliveries.index(event) + rng.randint(1, 3), event)
    answered: list[tuple[str, str]] = []
    try:
        tasks = []
        for delivery, key, seq in deliveries:
            name = rng.choice(sorted(replicas))
            tasks.append(asyncio.create_task(_turn(replicas[name], delivery, key, seq, answered, name)))
            # Events arrive one after another, as a platform sends them. The order between replicas is
            # the order their turns reach the database lock: messages sent closer together than one
            # claim + lock round trip (a few ms) can swap, which chat users do not produce.
            await asyncio.sleep(0.03)
        await asyncio.gather(*tasks)

        assert sorted(d for d, _ in answered) == sorted(d for d, _, _ in events)  # each once, none lost
        assert {n for _, n in answered} == {"r1", "r2"}  # both replicas did work
        store = replicas["r1"]
        for key in CONVERSATIONS:
            conv = await store.conversation(key)
            history = [m.text for m in await store.history(conv, 1000)]
            seqs = [seq for _, k, seq in events if k == key]
            # one turn at a time, in the users' order, each turn seeing every earlier one
            assert history == [text for i, s in enumerate(seqs) for text in (f"q{s}", f"a{s} after {2 * i}")]
    finally:
        for replica in replicas.values():
            await replica.close()
