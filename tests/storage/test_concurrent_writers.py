from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from orchestrator.types import ConversationKey

ROOT = Path(__file__).resolve().parents[2]
N = 150


def test_two_processes_write_the_same_database(tmp_path: Path, open_sqlite: Callable[..., Awaitable[Any]]) -> None:
    """Both writers succeed (BEGIN IMMEDIATE + busy_timeout), no row is lost, and each shared
    delivery id is won by exactly one of them. The database does not exist yet, so both also race
    to create and migrate it."""
    db, blobs, go = tmp_path / "hgbot.sqlite3", tmp_path / "artifacts", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    writer = str(Path(__file__).with_name("_writer.py"))
    procs = [
        subprocess.Popen(
            [sys.executable, writer, str(db), str(blobs), str(go), name, str(N)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        )
        for name in ("p1", "p2")
    ]
    try:
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready", p.stderr.read() if p.stderr else ""
        go.touch()
        results = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
    won = [int(out.split()[-1]) for out, _ in results]
    assert sum(won) == N

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 2 * N
        assert conn.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0] == 4 * N
        assert conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == N
        assert conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 1 + 2 * 7
    asyncio.run(_check_shared_history(open_sqlite, db, blobs))
    # 2N distinct contents + 1 shared content; no temp files left behind.
    files = [p for p in blobs.rglob("*") if p.is_file()]
    assert len(files) == 2 * N + 1
    assert not [p for p in files if p.name.startswith(".tmp-")]


def test_a_process_that_dies_with_the_store_open_still_exits(tmp_path: Path) -> None:
    """aiosqlite's worker thread must not keep a crashed bot alive (its supervisor restarts it)."""
    script = (
        "import asyncio, sys\n"
        "from storage import SqliteStore\n"
        "async def main():\n"
        "    store = await SqliteStore.open(sys.argv[1], sys.argv[2])\n"
        "    await store.add_message(await store.conversation(__import__('orchestrator.types').types"
        ".ConversationKey('t', '', 'c')), 'user', 'x')\n"
        "    raise RuntimeError('boom')\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "d.sqlite3"), str(tmp_path / "a")],
                          capture_output=True, text=True, timeout=30, env=env, cwd=ROOT)
    assert proc.returncode == 1 and "boom" in proc.stderr


async def _check_shared_history(open_sqlite: Callable[..., Awaitable[Any]], db: Path, blobs: Path) -> None:
    async with await open_sqlite(db, blobs) as store:
        shared = await store.conversation(ConversationKey("test", "", "shared"))
        texts = {m.text for m in await store.history(shared, limit=10 * N)}
    assert texts == {f"{name}-{i}" for name in ("p1", "p2") for i in range(N)}
