"""Queue caps, daily budgets and admins come from the config file's ``[jobs]`` table (or the environment)."""

from __future__ import annotations

from pathlib import Path

from bot.app import build_jobs
from bot.config import load_settings


def test_the_jobs_table_sets_caps_budgets_and_admins(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[jobs]\nadmins = ["UADMIN"]\nmax_jobs = 3\nuser_jobs = 2\nchannel_jobs = 3\n'
        'user_device_seconds = 600\nchannel_device_seconds = 3600\nmetrics_port = 9464\njob_sweep_s = 3\n', encoding="utf-8")
    settings = load_settings({"HGBOT_HOME": str(tmp_path), "HGBOT_LOG_FORMAT": "json"})
    jobs = build_jobs(settings, store=None, device="cpu")
    assert (jobs.queue.capacity, jobs.queue.per_user, jobs.queue.per_channel) == (3, 2, 3)
    assert jobs.quota.user_seconds == 600 and jobs.quota.channel_seconds == 3600 and jobs.is_admin("UADMIN")
    assert settings.metrics_port == 9464 and settings.log_format == "json"
    assert jobs.sweep_s == 3  # how often a running server takes over the jobs of stopped replicas
    env = load_settings({"HGBOT_HOME": str(tmp_path), "HGBOT_ADMINS": "U1, U2", "HGBOT_USER_JOBS": "1"})
    assert env.admins == ["U1", "U2"] and env.user_jobs == 1  # the environment wins over the file
