"""Store fixtures. This is the one place tests/storage builds a ``SqliteStore``: every other test
reaches it through ``open_sqlite`` or the contract suite's parametrised ``store``."""

from __future__ import annotations

import importlib.util
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.blobs import BlobStore
from storage import SqliteStore

OpenSqlite = Callable[..., Awaitable[SqliteStore]]


@pytest.fixture
def open_sqlite() -> OpenSqlite:
    """``await open_sqlite(db_path, artifacts_dir, blobs=None)``: ``SqliteStore.open`` by another name."""

    async def open_(db_path: Path | str, artifacts_dir: Path | str, blobs: BlobStore | None = None) -> SqliteStore:
        return await SqliteStore.open(Path(db_path), Path(artifacts_dir), blobs)

    return open_


@pytest.fixture
async def sqlite_store(tmp_path: Path, open_sqlite: OpenSqlite) -> AsyncIterator[SqliteStore]:
    s = await open_sqlite(tmp_path / "db" / "hgbot.sqlite3", tmp_path / "artifacts")
    yield s
    await s.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (a free port), for the whole session; skipped without moto."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("boto3") is None:
        pytest.skip("moto[server] and boto3 are not installed (pip install -e '.[scale,dev]')")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Dummy credentials and the moto endpoint in the environment; returns the endpoint."""
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_endpoint,
                        "HGBOT_S3_ENDPOINT": s3_endpoint}.items():
        monkeypatch.setenv(name, value)
    return s3_endpoint


@pytest.fixture
def open_s3(s3_env: str) -> Callable[[], Awaitable[BlobStore]]:
    """``await open_s3()``: an ``S3BlobStore`` on a fresh bucket of the moto server."""
    import boto3

    from storage.s3 import S3BlobStore

    async def open_() -> BlobStore:
        bucket = f"hgbot-{secrets.token_hex(6)}"
        boto3.client("s3", endpoint_url=s3_env).create_bucket(Bucket=bucket)
        return S3BlobStore.from_url(f"s3://{bucket}/team/artifacts", endpoint_url=s3_env)

    return open_
