"""Content-addressed blob files: ``<root>/<sha[:2]>/<sha><suffix>``.

Identical bytes (with the same suffix) are stored once. Writes are atomic (temp file in the
same directory, fsync, ``os.replace``), so a reader never sees a half-written blob and two
processes writing the same content at once both succeed with the same file.

The functions here block on disk I/O; ``SqliteStore`` calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_SUFFIX = re.compile(r"^(\.[A-Za-z0-9]{1,10})?$")


def check_suffix(suffix: str) -> str:
    """Return ``suffix`` if it is empty or like ``.png``; it becomes part of a path, so nothing else."""
    if not _SUFFIX.match(suffix):
        raise ValueError(f"invalid file suffix {suffix!r}: expected '' or a dot and 1-10 letters/digits")
    return suffix.lower()


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
