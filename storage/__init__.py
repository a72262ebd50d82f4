"""hgbot's storage: ``SqliteStore`` implements ``orchestrator.store.Store`` on SQLite + blob files.

Knows the orchestrator only through its shared types and errors; nothing here imports above it.
"""

from .migrations import LATEST as SCHEMA_VERSION
from .sqlite import SqliteStore

__all__ = ["SCHEMA_VERSION", "SqliteStore"]
