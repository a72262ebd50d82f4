"""Content-addressed blob files: ``<root>/<sha[:2]>/<sha><suffix>``.

Identical bytes (with the same suffix) are stored once. Writes are atomic (temp file in the
same directory, fsync, ``os.replace``), so a reader never sees a half-written blob and two
processes writing the same content at once both succeed with the same file.

The functions here block on disk I/O; ``LocalBlobStore`` (the ``orchestrator.blobs.BlobStore`` on
this directory) calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.blobs import BlobRef, check_suffix
from orchestrator.errors import ArtifactNotFound, StorageError
from orchestrator.types import HANDLE_PREFIX, KINDS, Artifact

__all__ = ["LocalBlobStore", "blob_relpath", "check_suffix", "write_blob"]


def blob_relpath(sha256: str, suffix: str) -> str:
    """Where a blob lives relative to the blob root (POSIX separators; this is what the DB stores)."""
    return f"{sha256[:2]}/{sha256}{check_suffix(suffix)}"


def write_blob(root: Path, data: bytes, suffix: str) -> tuple[str, str]:
    """Store ``data`` under ``root``; return ``(sha256 hex, path relative to root)``.

    A blob that already exists is not rewritten (content addressing makes it identical).
    """
    sha = hashlib.sha256(data).hexdigest()
    rel = blob_relpath(sha, suffix)
    target = root / rel
    if target.exists():
        return sha, rel
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            # fsync before the rename: otherwise a crash can leave a renamed but empty file
            # that the (durable) database row already points at.
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha, rel


class LocalBlobStore:
    """``BlobStore`` on a local directory (today's ``HGBOT_HOME/artifacts``): the default."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def path(self, ref: BlobRef) -> Path:
        """The blob's file. Only this store has one; callers that may get another store use ``local_file``."""
        return self.root / ref.key

    async def put(self, data: bytes, suffix: str = "") -> BlobRef:
        suffix = check_suffix(suffix)
        try:
            sha, _ = await asyncio.to_thread(write_blob, self.root, data, suffix)
        except OSError as exc:
            raise StorageError(f"Cannot write a file to the artifact store {self.root}: {exc}.") from exc
        return BlobRef(sha256=sha, suffix=suffix, size=len(data))

    async def read(self, ref: BlobRef) -> bytes:
        try:
            return await asyncio.to_thread(self.path(ref).read_bytes)
        except FileNotFoundError as exc:
            raise StorageError(f"The file {ref.key} is missing from the artifact store {self.root}.") from exc
        except OSError as exc:
            raise StorageError(f"Cannot read {ref.key} from the artifact store {self.root}: {exc}.") from exc

    async def exists(self, ref: BlobRef) -> bool:
        return await asyncio.to_thread(self.path(ref).is_file)

    @asynccontextmanager
    async def local_file(self, ref: BlobRef) -> AsyncIterator[Path]:
        path = self.path(ref)
        if not await asyncio.to_thread(path.is_file):
            raise StorageError(f"The file {ref.key} is missing from the artifact store {self.root}.")
        yield path  # already a file: no copy

    def describe(self, ref: BlobRef) -> str:
        return str(self.path(ref))

    async def close(self) -> None:
        return None


if TYPE_CHECKING:
    from orchestrator.blobs import BlobStore

    def _conforms(blobs: LocalBlobStore) -> BlobStore:
        return blobs  # mypy proves LocalBlobStore satisfies the protocol


@asynccontextmanager
async def temporary_copy(data: bytes, ref: BlobRef, prefix: str) -> AsyncIterator[Path]:
    """A blob's bytes as a file named like its key in a temporary directory, removed on exit: the
    ``local_file`` of a store whose blobs are not files here."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        path = Path(tmp) / ref.key.rsplit("/", 1)[-1]
        await asyncio.to_thread(path.write_bytes, data)
        yield path


async def read_artifact_bytes(blobs: BlobStore, artifact: Artifact) -> bytes:
    """An artifact's bytes through ``blobs``; a row written before blob references reads its file."""
    if artifact.blob is not None:
        return await blobs.read(artifact.blob)
    return await asyncio.to_thread(artifact.path.read_bytes)


# What every store does around its own rows when it puts or gets an artifact, said the same way by all.

def new_artifact_suffix(kind: str, suffix: str) -> str:
    """The checked suffix of an artifact about to be stored; ``ValueError`` for an unknown kind."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    return check_suffix(suffix)


def bare_artifact_id(artifact_id: str) -> str:
    """``artifact:abc`` (or ``abc``, spaces allowed) → ``abc``."""
    return artifact_id.strip().removeprefix(HANDLE_PREFIX).strip()


async def found_artifact(blobs: BlobStore, artifact: Artifact | None, bare: str) -> Artifact:
    """What ``get_artifact`` returns for the row it looked up: ``ArtifactNotFound`` for none (the same
    message whether the id is unknown or another conversation's, so a handle reveals nothing outside
    its conversation), ``StorageError`` when the row's bytes are missing from ``blobs``."""
    if artifact is None:
        raise ArtifactNotFound(f"There is no file {HANDLE_PREFIX}{bare} in this conversation.",
                               hint="Refer to a file sent or generated in this conversation.")
    assert artifact.blob is not None
    if not await blobs.exists(artifact.blob):
        raise StorageError(f"The file of {artifact.handle} is missing from the artifact store "
                           f"({blobs.describe(artifact.blob)}).")
    return artifact
