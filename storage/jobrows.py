"""Rows of the job and usage tables as the orchestrator's records: one reading for every database.

The SQLite and Postgres tables select the same columns in the same order, so one function turns
a row of either (a tuple, an ``aiosqlite`` row or an ``asyncpg`` record) into the typed record.
"""

from __future__ import annotations

import json
from typing import Any

from orchestrator.jobtypes import JobRecord, JobState
from orchestrator.store import UsageTotal
from orchestrator.types import ConversationKey


def job_record(row: Any) -> JobRecord:
    """(id, platform, workspace, channel, thread, user, text, payload JSON, state, owner, error,
    created, started, finished) as a ``JobRecord``."""
    return JobRecord(
        id=int(row[0]), key=ConversationKey(row[1], row[2], row[3], row[4]), user=row[5], text=row[6],
        payload=json.loads(row[7] or "{}"), state=JobState(row[8]), owner=row[9], error=row[10],
        created=float(row[11]), started=row[12], finished=row[13])


def usage_total(row: Any) -> UsageTotal:
    """(group, steps, jobs, seconds, load seconds, devices joined by commas) as a ``UsageTotal``."""
    return UsageTotal(group=str(row[0]), steps=int(row[1]), jobs=int(row[2]), seconds=round(float(row[3] or 0), 3),
                      load_seconds=round(float(row[4] or 0), 3),
                      # the databases join the distinct devices in no set order
                      devices=tuple(sorted(d for d in str(row[5] or "").split(",") if d)))
