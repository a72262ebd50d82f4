"""Build the configured store: SQLite + a local directory by default, Postgres and/or S3 when their
URLs are set. The one place that knows every implementation; ``bot`` calls it."""

from __future__ import annotations

from pathlib import Path

from orchestrator.blobs import BlobStore
from orchestrator.errors import ConfigError
from orchestrator.store import Store

from .blobs import LocalBlobStore
from .cached import CachedBlobStore


def open_blobs(blob_url: str, artifacts_dir: Path, *, s3_endpoint: str | None = None) -> BlobStore:
    """``""``: the local directory; ``s3://bucket/prefix``: S3 with the local directory as a cache."""
    local = LocalBlobStore(artifacts_dir)
    if not blob_url:
        return local
    if blob_url.startswith("s3://"):
        from .s3 import S3BlobStore

        return CachedBlobStore(S3BlobStore.from_url(blob_url, endpoint_url=s3_endpoint), local)
    raise ConfigError(f"HGBOT_BLOB_URL must be empty (the local directory) or s3://bucket/prefix, not {blob_url!r}.")


async def open_store(*, database_url: str, blob_url: str, db_path: Path, artifacts_dir: Path,
                     s3_endpoint: str | None = None) -> Store:
    blobs = open_blobs(blob_url, artifacts_dir, s3_endpoint=s3_endpoint)
    artifacts_dir = _absolute(artifacts_dir)  # Artifact.path must be absolute
    if not database_url:
        from .sqlite import SqliteStore

        return await SqliteStore.open(db_path, artifacts_dir, blobs)
    if database_url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return await PostgresStore.open(database_url, blobs, artifacts_dir=artifacts_dir)
    raise ConfigError("HGBOT_DATABASE_URL must be empty (SQLite under HGBOT_HOME) or postgresql://…, not "
                      f"{database_url.split('://', 1)[0]}://….")


def _absolute(path: Path) -> Path:
    return Path(path).expanduser().resolve()
