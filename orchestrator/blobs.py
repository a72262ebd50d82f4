"""The blob store port: where artifact bytes live, addressed by their content.

``BlobStore.put(bytes, suffix)`` returns a ``BlobRef`` (sha256 + suffix + size); the same bytes
with the same suffix give the same reference on every replica, so a reference written to the
database on host A reads back on host B when both use one shared store (an S3 bucket).

Implementations: ``storage.LocalBlobStore`` (a directory, the default), ``storage.S3BlobStore``
(``HGBOT_BLOB_URL=s3://bucket/prefix``) and ``storage.MemoryBlobStore`` (tests). All pass
``tests/storage/contract/test_blob_contract.py``.

Missing blobs raise ``StorageError`` (the database points at bytes the store lost: an operator
problem, not a user one).
"""

from __future__ import annotations

import re
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

_SUFFIX = re.compile(r"^(\.[A-Za-z0-9]{1,10})?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_suffix(suffix: str) -> str:
    """Return ``suffix`` lower-cased if it is empty or like ``.png``; it becomes part of a key or path."""
    if not _SUFFIX.match(suffix):
        raise ValueError(f"invalid file suffix {suffix!r}: expected '' or a dot and 1-10 letters/digits")
    return suffix.lower()


@dataclass(frozen=True)
class BlobRef:
    """A content-addressed blob: what an ``Artifact`` carries instead of a local path."""

    sha256: str
    suffix: str = ""
    size: int = 0

    def __post_init__(self) -> None:
        # the key becomes a file path or an object key: only hex digits and a checked suffix
        if not _SHA256.match(self.sha256):
            raise ValueError(f"not a sha256 hex digest: {self.sha256!r}")
        check_suffix(self.suffix)

    @property
    def key(self) -> str:
        """The blob's place relative to the store's root (``ab/abcd….png``): what the database keeps."""
        return f"{self.sha256[:2]}/{self.sha256}{self.suffix}"

    @classmethod
    def from_key(cls, key: str, size: int = 0) -> BlobRef:
        """The reference stored as ``key`` (the inverse of ``.key``)."""
        name = key.rsplit("/", 1)[-1]
        sha, dot, ext = name.partition(".")
        return cls(sha256=sha, suffix=f"{dot}{ext}", size=size)


class BlobStore(Protocol):
    """Content-addressed bytes. Every method is safe to call from several replicas at once."""

    async def put(self, data: bytes, suffix: str = "") -> BlobRef:
        """Store ``data`` (once: identical content is not rewritten) and return its reference."""
        ...

    async def read(self, ref: BlobRef) -> bytes:
        """The blob's bytes; ``StorageError`` when the store does not have it."""
        ...

    async def exists(self, ref: BlobRef) -> bool: ...

    def local_file(self, ref: BlobRef) -> AbstractAsyncContextManager[Path]:
        """A local file holding the blob, for code that needs a path (decoders, SDK uploads).

        The path is valid inside the ``async with`` only; a remote store removes its copy on exit.
        """
        ...

    def describe(self, ref: BlobRef) -> str:
        """Where the blob lives, for people (a file path or ``s3://bucket/key``)."""
        ...

    async def close(self) -> None: ...
