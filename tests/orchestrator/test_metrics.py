"""The Prometheus names issue 10 lists, and what each counts (a step that loaded its model vs a cached one)."""

from __future__ import annotations

from prometheus_client import generate_latest

from orchestrator.metrics import Metrics


def test_each_metric_counts_what_its_name_says() -> None:
    metrics = Metrics()
    metrics.watch_queue(lambda: 3, lambda: 2)
    metrics.job("queued")
    metrics.job("queued")
    metrics.job("cancelled")
    metrics.step("image-to-text", "m-ocr", 2.0, load_seconds=1.2)  # had to load its model
    metrics.step("image-to-text", "m-ocr", 0.4, load_seconds=0.0001)  # cached: no load
    metrics.llm(2)
    metrics.llm(0)
    text = generate_latest(metrics.registry).decode()
    assert "hgbot_queue_depth 3.0" in text and "hgbot_jobs_running 2.0" in text
    assert 'hgbot_jobs_total{state="queued"} 2.0' in text and 'hgbot_jobs_total{state="cancelled"} 1.0' in text
    assert 'hgbot_step_seconds_count{model="m-ocr",task="image-to-text"} 2.0' in text
    assert 'hgbot_step_seconds_sum{model="m-ocr",task="image-to-text"} 2.4' in text
    assert 'hgbot_model_loads_total{model="m-ocr"} 1.0' in text
    assert "hgbot_llm_calls_total 2.0" in text
