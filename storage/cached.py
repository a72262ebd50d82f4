"""``CachedBlobStore``: a shared remote store (S3) with this host's blob directory in front.

Every replica writes through to the remote store and keeps a local copy; a blob made on another
host is downloaded once, on first use. The local copy keeps ``Artifact.path`` (the read-only
convenience for backends and the CLI) valid on every replica while the bytes' home is remote.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.blobs import BlobRef, BlobStore

from .blobs import LocalBlobStore

if TYPE_CHECKING:
    from orchestrator.types import Artifact


class CachedBlobStore:
    def __init__(self, remote: BlobStore, local: LocalBlobStore) -> None:
        self.remote = remote
        self.local = local

    def path(self, ref: BlobRef) -> Path:
        return self.local.path(ref)

    async def put(self, data: bytes, suffix: str = "") -> BlobRef:
        ref = await self.local.put(data, suffix)
        await self.remote.put(data, suffix)  # shared first-class copy: other replicas read this one
        return ref

    async def read(self, ref: BlobRef) -> bytes:
        if await self.local.exists(ref):
            return await self.local.read(ref)
        data = await self.remote.read(ref)
        await self.local.put(data, ref.suffix)
        return data

    async def exists(self, ref: BlobRef) -> bool:
        return await self.local.exists(ref) or await self.remote.exists(ref)

    async def ensure_local(self, refs: Iterable[BlobRef]) -> None:
        """Download the blobs this host has no copy of (missing remote blobs are left to ``read``)."""
        for ref in refs:
            if not await self.local.exists(ref) and await self.remote.exists(ref):
                await self.read(ref)

    @asynccontextmanager
    async def local_file(self, ref: BlobRef) -> AsyncIterator[Path]:
        await self.read(ref)
        async with self.local.local_file(ref) as path:
            yield path

    def describe(self, ref: BlobRef) -> str:
        return self.remote.describe(ref)

    async def close(self) -> None:
        await self.remote.close()
        await self.local.close()


async def localise(blobs: BlobStore, artifacts: list[Artifact]) -> list[Artifact]:
    """Make sure each artifact's ``path`` exists here when ``blobs`` caches a remote store."""
    if isinstance(blobs, CachedBlobStore):
        await blobs.ensure_local(a.blob for a in artifacts if a.blob is not None)
    return artifacts


if TYPE_CHECKING:
    def _conforms(blobs: CachedBlobStore) -> BlobStore:
        return blobs  # mypy proves CachedBlobStore satisfies the protocol
