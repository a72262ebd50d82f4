"""Store fixtures. This is the one place tests/storage builds a ``SqliteStore``: every other test
reaches it through ``open_sqlite`` or the contract suite's parametrised ``store``."""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

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


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of its own (initdb + pg_ctl in a temp dir, 127.0.0.1, a free port) for the
    session. initdb refuses root, so as root the server runs as the ``postgres`` user via runuser."""
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries are absent (apt-get install -y postgresql)")
    if importlib.util.find_spec("asyncpg") is None:
        pytest.skip("asyncpg is not installed (pip install -e '.[scale]')")
    # not under pytest's tmp dir: that is root's, private, and the postgres user must reach this one
    base = Path(tempfile.mkdtemp(prefix="hgbot-pg-"))
    data = base / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        os.chmod(base, 0o700)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
    options = f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off -c full_page_writes=off"
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"),
                    "-w", "-t", "60", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_url: str) -> str:
    """A fresh, empty database on the session's server; its URL. (psql, not asyncpg: a sync fixture
    can be pulled in by the async ``store`` fixture.)"""
    bindir = _postgres_bin()
    assert bindir is not None  # postgres_url skipped otherwise
    name = f"t_{secrets.token_hex(6)}"
    subprocess.run([str(bindir / "psql"), postgres_url, "-qc", f"CREATE DATABASE {name}"], check=True,
                   capture_output=True)
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def open_postgres(postgres_db: str) -> Callable[..., Awaitable[Any]]:
    """``await open_postgres(blobs)``: a ``PostgresStore`` on this test's database."""
    from storage.postgres import PostgresStore

    async def open_(blobs: BlobStore) -> PostgresStore:
        return await PostgresStore.open(postgres_db, blobs)

    return open_
