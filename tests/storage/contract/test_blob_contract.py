"""What every ``BlobStore`` must do (memory, local directory, S3)."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from orchestrator.blobs import BlobRef, BlobStore
from orchestrator.errors import StorageError


async def test_put_returns_a_content_address_and_read_gives_the_bytes_back(blobs: BlobStore) -> None:
    data = b"\x00RIFF fake wav" * 100
    ref = await blobs.put(data, ".WAV")
    assert ref == BlobRef(hashlib.sha256(data).hexdigest(), ".wav", len(data))
    assert ref.key == f"{ref.sha256[:2]}/{ref.sha256}.wav"
    assert await blobs.read(ref) == data
    assert await blobs.exists(ref)
    assert ref.sha256 in blobs.describe(ref)


async def test_same_bytes_give_the_same_reference_even_when_written_at_once(blobs: BlobStore) -> None:
    refs = await asyncio.gather(*(blobs.put(b"same", ".txt") for _ in range(8)))
    assert len(set(refs)) == 1
    assert await blobs.read(refs[0]) == b"same"
    # the suffix is part of the address: another suffix is another blob
    other = await blobs.put(b"same", ".md")
    assert other != refs[0] and await blobs.read(other) == b"same"


async def test_an_unknown_blob_is_a_storage_error(blobs: BlobStore) -> None:
    ref = BlobRef(hashlib.sha256(b"never stored").hexdigest(), ".png", 12)
    assert not await blobs.exists(ref)
    with pytest.raises(StorageError, match="missing"):
        await blobs.read(ref)
    with pytest.raises(StorageError, match="missing"):
        async with blobs.local_file(ref):
            pass


async def test_local_file_holds_the_bytes_under_the_blob_suffix(blobs: BlobStore) -> None:
    ref = await blobs.put(b"\x89PNG..", ".png")
    async with blobs.local_file(ref) as path:
        assert path.suffix == ".png"
        assert path.read_bytes() == b"\x89PNG.."


async def test_empty_blobs_are_blobs(blobs: BlobStore) -> None:
    ref = await blobs.put(b"")
    assert ref.size == 0 and ref.suffix == "" and await blobs.read(ref) == b""


async def test_a_path_like_suffix_is_refused(blobs: BlobStore) -> None:
    with pytest.raises(ValueError):
        await blobs.put(b"x", "/../../etc/passwd")
    with pytest.raises(ValueError):
        BlobRef("../" + "0" * 61, "")
