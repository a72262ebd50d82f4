"""The durable job's shared types: what the job store keeps and the job layer reads back.

A job is one accepted request. Its life::

    queued ──▶ running ──▶ done | failed | cancelled
       │          │
       │          └──▶ interrupted   (its owner process died; the thread is told, with a Retry button)
       └──▶ cancelled

A job row is written *before* the platform is acknowledged, so an acknowledged request is
never only in a process's memory. ``owner`` is the process that runs it (``host:pid:nonce``);
an owner proves it is alive with a heartbeat row.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .types import ConversationKey


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def final(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


@dataclass(frozen=True)
class JobRecord:
    id: int
    key: ConversationKey
    user: str
    text: str
    state: JobState
    owner: str = ""
    payload: dict[str, Any] = field(default_factory=dict)  # adapter data: files, flags (JSON)
    error: str | None = None
    created: float = 0.0
    started: float | None = None
    finished: float | None = None


@dataclass(frozen=True)
class UsageRecord:
    """One step's device time: what quotas count and ``hgbot usage`` sums."""

    job_id: int | None
    platform: str
    user: str
    channel: str
    task: str
    model: str
    device: str
    seconds: float
    load_seconds: float = 0.0
