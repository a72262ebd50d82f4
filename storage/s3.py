"""``S3BlobStore``: the ``BlobStore`` on any S3-compatible object store (AWS, MinIO, R2).

Chosen by ``HGBOT_BLOB_URL=s3://bucket/prefix``; the endpoint comes from ``HGBOT_S3_ENDPOINT`` or
boto3's own ``AWS_ENDPOINT_URL``, credentials from boto3's usual chain. boto3 is synchronous, so
every call runs in a worker thread; a client is thread-safe, a resource would not be.

Objects are ``<prefix>/<sha[:2]>/<sha><suffix>``: the same key layout as the local directory, so a
reference written by one replica reads back on every other.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from orchestrator.blobs import BlobRef, check_suffix
from orchestrator.errors import ConfigError, StorageError

from .blobs import temporary_copy

if TYPE_CHECKING:
    from orchestrator.blobs import BlobStore

_MISSING = {"404", "NoSuchKey", "NotFound"}


class _Missing(StorageError):
    """A missing object: a ``StorageError`` to callers, ``False`` to ``exists``."""


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ``("bucket", "some/prefix")``; ``ConfigError`` for anything else."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ConfigError(f"HGBOT_BLOB_URL must look like s3://bucket/prefix, not {url!r}.")
    return parts.netloc, parts.path.strip("/")


class S3BlobStore:
    """Blobs as objects in one bucket under one prefix. Build with ``S3BlobStore.from_url``."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None) -> S3BlobStore:
        try:
            import boto3
        except ImportError as exc:
            raise ConfigError("HGBOT_BLOB_URL=s3://… needs boto3: pip install -e '.[scale]' in the hgbot "
                              "checkout.") from exc
        bucket, prefix = parse_s3_url(url)
        return cls(boto3.client("s3", endpoint_url=endpoint_url or None), bucket, prefix)

    def _key(self, ref: BlobRef) -> str:
        return f"{self.prefix}/{ref.key}" if self.prefix else ref.key

    async def put(self, data: bytes, suffix: str = "") -> BlobRef:
        ref = BlobRef(hashlib.sha256(data).hexdigest(), check_suffix(suffix), len(data))
        # Content addressing makes a second PUT of the same key write identical bytes, so replicas
        # racing on one blob need no coordination; skipping the PUT when it exists saves the upload.
        if not await self.exists(ref):
            await self._call("writing", ref, "put_object", Bucket=self.bucket, Key=self._key(ref), Body=data)
        return ref

    async def read(self, ref: BlobRef) -> bytes:
        response = await self._call("reading", ref, "get_object", Bucket=self.bucket, Key=self._key(ref))
        body = response["Body"]
        try:
            return bytes(await asyncio.to_thread(body.read))
        finally:
            body.close()

    async def exists(self, ref: BlobRef) -> bool:
        try:
            await self._call("looking up", ref, "head_object", Bucket=self.bucket, Key=self._key(ref))
        except _Missing:
            return False
        return True

    @asynccontextmanager
    async def local_file(self, ref: BlobRef) -> AsyncIterator[Path]:
        async with temporary_copy(await self.read(ref), ref, "hgbot-s3-") as path:
            yield path

    def describe(self, ref: BlobRef) -> str:
        return f"s3://{self.bucket}/{self._key(ref)}"

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)

    async def _call(self, doing: str, ref: BlobRef, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await asyncio.to_thread(getattr(self._client, method), **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise _Missing(f"The file {ref.key} is missing from the artifact store {self.describe(ref)}.") \
                    from exc
            raise StorageError(f"S3 error while {doing} {self.describe(ref)}: {code or exc}.") from exc
        except BotoCoreError as exc:
            raise StorageError(f"Cannot reach the artifact store while {doing} {self.describe(ref)}: {exc}.") from exc


if TYPE_CHECKING:
    def _conforms(blobs: S3BlobStore) -> BlobStore:
        return blobs  # mypy proves S3BlobStore satisfies the protocol
