"""Prometheus metrics for ``hgbot serve`` (prometheus-client), on a registry of their own.

Queue depth and running jobs are read when scraped; the rest are counted by the job layer as
jobs change state and steps finish. ``serve(port)`` exposes ``/metrics`` over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.queue_depth = Gauge("hgbot_queue_depth", "Jobs waiting in the queue", registry=self.registry)
        self.jobs_running = Gauge("hgbot_jobs_running", "Jobs running now", registry=self.registry)
        self.jobs = Counter("hgbot_jobs", "Jobs by the state they reached", ["state"], registry=self.registry)
        self.step_seconds = Histogram("hgbot_step_seconds", "Step latency by task and model", ["task", "model"],
                                      buckets=_STEP_BUCKETS, registry=self.registry)
        self.model_loads = Counter("hgbot_model_loads", "Steps that had to load their model", ["model"],
                                   registry=self.registry)
        self.llm_calls = Counter("hgbot_llm_calls", "HTTP requests sent to the LLM", registry=self.registry)

    def watch_queue(self, depth: Callable[[], int], running: Callable[[], int]) -> None:
        self.queue_depth.set_function(lambda: float(depth()))
        self.jobs_running.set_function(lambda: float(running()))

    def job(self, state: str) -> None:
        self.jobs.labels(state=state).inc()

    def step(self, task: str, model: str, seconds: float, load_seconds: float) -> None:
        self.step_seconds.labels(task=task, model=model).observe(seconds)
        if load_seconds > 0.05:  # a cached model starts in microseconds; more means it was loaded
            self.model_loads.labels(model=model).inc()

    def llm(self, calls: int) -> None:
        if calls > 0:
            self.llm_calls.inc(calls)

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` on ``host:port`` in a daemon thread; the bound port (for port 0)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return int(server.server_port)
