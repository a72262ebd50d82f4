"""Turn locks: one turn at a time per conversation (``orchestrator.store.ConversationLocks``).

    KeyedLocks   one ``asyncio.Lock`` per key: one process (``MemoryStore``, and the first half of FileLocks)
    FileLocks    KeyedLocks, then an exclusive ``flock`` on a lock file beside the SQLite database, so
                 several processes sharing one database file on one host take turns too

``PostgresStore`` has its own: an advisory lock on a dedicated connection (``storage/postgres.py``).
Both cross-process locks belong to something the operating system or the server drops when the
holder dies (an open file, a session), so a crashed turn never leaves a conversation locked.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import weakref
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from pathlib import Path

from orchestrator.errors import StorageError
from orchestrator.types import ConversationKey

try:
    import fcntl
except ImportError:  # Windows: no flock; one process per database file is then the supported setup
    fcntl = None  # type: ignore[assignment]


def lock_name(key: ConversationKey) -> str:
    """The key as one string with every part kept (``str(key)`` drops empty parts, so two keys could meet)."""
    return "\x1f".join((key.platform, key.workspace, key.channel, key.thread))


class KeyedLocks:
    """Per-key FIFO locks for one process. Weak values: a key's lock lives only while a turn holds
    or waits for it, so a long-running bot does not keep one lock per conversation ever seen."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[Hashable, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            yield


class FileLocks:
    """KeyedLocks plus an exclusive ``flock`` on ``directory/turn-NNNN.lock``.

    A key hashes to one of ``buckets`` files, so the directory stays small however many
    conversations there are; two conversations that share a file (1 in ``buckets``) wait for each
    other, which costs time, never correctness. The flock is polled (non-blocking tries with a
    growing pause), not waited for in a thread: a cancelled turn then simply stops trying, and no
    thread of the shared pool sits blocked. Across processes that is not strictly first come,
    first served; within a process the KeyedLocks are.
    """

    def __init__(self, directory: Path, *, buckets: int = 4096, poll_s: tuple[float, float] = (0.005, 0.1)) -> None:
        self.directory = directory
        self.buckets = buckets
        self.poll_s = poll_s
        self._local = KeyedLocks()

    def path_for(self, key: ConversationKey) -> Path:
        digest = hashlib.sha256(lock_name(key).encode()).digest()
        return self.directory / f"turn-{int.from_bytes(digest[:8], 'big') % self.buckets:04d}.lock"

    @asynccontextmanager
    async def hold(self, key: ConversationKey) -> AsyncIterator[None]:
        async with self._local.hold(key):
            if fcntl is None:
                yield
                return
            fd = await self._flock(self.path_for(key))
            try:
                yield
            finally:
                os.close(fd)  # closing the file releases the flock (as a crash would)

    async def _flock(self, path: Path) -> int:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StorageError(f"Cannot open the conversation lock file {path}: {exc}.") from exc
        pause = self.poll_s[0]
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    await asyncio.sleep(pause)  # another process's turn in this conversation (or bucket)
                    pause = min(pause * 2, self.poll_s[1])
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"Cannot lock the conversation lock file {path}: {exc}.") from exc
        except BaseException:
            os.close(fd)
            raise
