"""A separate process that hammers a shared hgbot database (driven by test_concurrent_writers)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from orchestrator.types import ConversationKey
from storage import SqliteStore


async def main(db: Path, blobs: Path, go: Path, name: str, n: int) -> None:
    async with await SqliteStore.open(db, blobs) as store:
        await hammer(store, go, name, n)


async def hammer(store: SqliteStore, go: Path, name: str, n: int) -> None:
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while not await asyncio.to_thread(go.exists):  # start together, so the writes really overlap
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        await asyncio.sleep(0.005)
    won = 0
    shared = await store.conversation(ConversationKey("test", "", "shared"))
    for i in range(n):
        own = await store.conversation(ConversationKey("test", name, f"c{i % 7}"))
        await store.add_message(shared, "user", f"{name}-{i}")
        await store.put_artifact(own, f"{name}-{i}".encode(), kind="text", mime="text/plain", suffix=".txt")
        await store.put_artifact(shared, b"same bytes in both processes", kind="text", mime="text/plain",
                                 suffix=".txt")
        won += await store.claim_delivery(f"event-{i}")
    print(f"won {won}", flush=True)


if __name__ == "__main__":
    db, blobs, go, name, n = sys.argv[1:6]
    asyncio.run(main(Path(db), Path(blobs), Path(go), name, int(n)))
