"""hgbot's storage: implementations of the orchestrator's store and blob-store ports.

``SqliteStore`` (SQLite + a blob directory, the default), ``MemoryStore``/``MemoryBlobStore`` (tests),
``LocalBlobStore`` (a directory). Knows the orchestrator only through its shared types, protocols and
errors; nothing here imports above it.
"""

from .blobs import LocalBlobStore
from .memory import MemoryBlobStore, MemoryStore
from .migrations import LATEST as SCHEMA_VERSION
from .sqlite import SqliteStore

__all__ = ["SCHEMA_VERSION", "LocalBlobStore", "MemoryBlobStore", "MemoryStore", "SqliteStore"]
