"""``HGBOT_LOG_FORMAT=json``: one JSON object per line, job events let through with their job id."""

from __future__ import annotations

import io
import json
import logging

from bot.logs import use_json_logs


def test_json_logs_carry_the_job_fields() -> None:
    root, jobs = logging.getLogger(), logging.getLogger("hgbot.jobs")
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    saved = (root.handlers[:], root.level, jobs.level)
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    try:
        use_json_logs()
        jobs.info("job %s %s", 7, "queued", extra={"job_id": 7, "event": "queued", "platform": "slack"})
        logging.getLogger("elsewhere").info("not shown at the default level")
        logging.getLogger("elsewhere").warning("shown")
    finally:
        root.handlers[:], _, _ = saved
        root.setLevel(saved[1])
        jobs.setLevel(saved[2])
    first, second = (json.loads(line) for line in buf.getvalue().splitlines())
    assert first["job_id"] == 7 and first["event"] == "queued" and first["message"] == "job 7 queued"
    assert first["level"] == "info" and first["logger"] == "hgbot.jobs" and first["platform"] == "slack"
    assert second["message"] == "shown" and "job_id" not in second
