"""The job layer's targets (bench/jobs.py measures the README's figures): Slack ack p99 < 0.3 s with
20 jobs queued, and under 5 ms of queue overhead per job."""

from __future__ import annotations

from bench.jobs import ack_latency, pct, queue_overhead


async def test_slack_acks_stay_fast_with_20_jobs_queued() -> None:
    acks = await ack_latency(acks=40, queued=20)
    assert len(acks) == 40
    assert pct(acks, 0.99) < 0.3, sorted(acks)[-5:]


async def test_the_queue_costs_under_5_ms_per_job() -> None:
    bare, full = await queue_overhead(jobs=100)
    assert bare < 1 and full < 5, (bare, full)
