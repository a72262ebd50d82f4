"""``hgbot bench --runtime ray``: the Ray runtime's figures on a local cluster started for the run.

A head and up to two worker nodes on this machine (loopback only, a temporary directory), each worker
offering one ``bench_gpu`` (a custom resource standing in for a GPU), and a sleep-bound model backend,
so the figures measure Ray and Serve, not a model:

- the Ray hop per step: p50 of a zero-work step through ``RayRuntime`` minus the same model called in
  this process (what ``LocalRuntime`` adds is a thread hop);
- throughput of a sleep-bound model (one step at a time per GPU) with two worker nodes against one;
- routing: requests for warm models, in random order, that land on a replica already holding them (as
  the replica itself reports: the model was in its LRU when the step arrived).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from orchestrator.backends.base import Device, Inputs
from orchestrator.catalog import ModelCard
from orchestrator.types import Output, TextOutput

GIB = 1024**3
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class SleepModel:
    card: ModelCard
    size_bytes: int = 1

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        time.sleep(float(self.card.options.get("sleep", 0)))
        return [TextOutput(f"{self.card.id}: {inputs.get('text', '')}")]


class SleepBackend:
    name = "bench-sleep"

    def available(self) -> str | None:
        return None

    def load(self, card: ModelCard, device: Device) -> SleepModel:
        return SleepModel(card)


def _card(name: str, sleep: float, size: int) -> ModelCard:
    return ModelCard(id=f"bench/{name}", task="summarization", backend="bench-sleep", size=size, profile="gpu",
                     options={"sleep": sleep})


async def run_ray_bench(repeat: int = 3) -> int:
    import ray
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    from orchestrator.runtimes.ray import RayConfig, RayRuntime

    tmp = tempfile.mkdtemp(prefix="hgray-", dir="/tmp")
    os.environ.update(RAY_TMPDIR=tmp, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
                      PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    os.environ.pop("RAY_ADDRESS", None)
    ray_constants.ENABLE_RAY_CLUSTER = False  # every node on 127.0.0.1
    rows: list[tuple[str, str]] = []
    started = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    first = cluster.add_node(num_cpus=2, resources={"bench_gpu": 1})
    cluster.wait_for_nodes()
    rows.append(("Local cluster start (head + 1 worker)", f"{time.perf_counter() - started:.1f} s"))
    base = RayConfig(models_per_replica=2, gpu_memory_bytes=16 * GIB, gpu_resource="bench_gpu",
                     backends=(("bench-sleep", "bot.bench_ray:SleepBackend"),))
    try:
        ray.init(address=cluster.address, namespace="hgbot", log_to_driver=False)
        n = 30 * repeat
        # 1. the hop: a zero-work step, here and through Ray (one replica on one node)
        zero = _card("zero", 0.0, GIB)
        local = SleepModel(zero)
        here = []
        for i in range(n):
            t = time.perf_counter()
            await asyncio.to_thread(local.run, "summarization", {"text": str(i)})
            here.append(time.perf_counter() - t)
        one = RayRuntime(replace(base, min_replicas=1, max_replicas=1), task_timeout=60)
        await one.run(zero, "summarization", {"text": "warm"})  # deploys and loads
        hop = []
        for i in range(n):
            t = time.perf_counter()
            await one.run(zero, "summarization", {"text": str(i)})
            hop.append(time.perf_counter() - t)
        p50 = statistics.median(hop) - statistics.median(here)
        rows.append((f"Ray hop per step, p50 over {n} (Ray p50 − in-process p50)",
                     f"{p50 * 1000:.1f} ms ({statistics.median(hop) * 1000:.1f} − "
                     f"{statistics.median(here) * 1000:.2f} ms); p95 {sorted(hop)[int(n * 0.95)] * 1000:.1f} ms"))

        from ray import serve

        serve.delete("hgbot-gpu-0.25")  # give the fake GPU back before whole-GPU replicas deploy

        # 2. throughput, one GPU per worker node, one step at a time per GPU
        slow = _card("slow", 0.5, 16 * GIB)  # a whole (fake) GPU per replica
        jobs = 8

        async def burst(rt: RayRuntime) -> float:
            await rt.run(slow, "summarization", {"text": "warm"})
            await asyncio.sleep(0.5)  # warm = loaded and known to Serve's routers (RoutingSettle's wait)
            t = time.perf_counter()
            await asyncio.gather(*(rt.run(slow, "summarization", {"text": str(i)}) for i in range(jobs)))
            return jobs / (time.perf_counter() - t)

        single = await burst(RayRuntime(replace(base, min_replicas=1, max_replicas=1), task_timeout=120))
        cluster.add_node(num_cpus=2, resources={"bench_gpu": 1})
        cluster.wait_for_nodes()
        pair = RayRuntime(replace(base, min_replicas=2, max_replicas=2), task_timeout=120)
        double = await burst(pair)
        rows.append((f"Throughput, {jobs} steps of a 0.5 s model: two worker nodes vs one",
                     f"{double:.2f} vs {single:.2f} steps/s = {double / single:.2f}×"))

        serve.delete("hgbot-gpu-1")

        # 3. routing: four warm models over two replicas (two each), requests in random order
        warm = [_card(f"warm{i}", 0.0, 4 * GIB) for i in range(4)]
        for card in warm * 2:
            await pair.run(card, "summarization", {"text": "warm"})
        # The replica says whether it already held the model when the step arrived (no load).
        rng = random.Random(7)
        steps, hits = pair.steps, pair.warm_steps
        for _ in range(40 * repeat):
            await pair.run(rng.choice(warm), "summarization", {"text": "x"})
        total, hits = pair.steps - steps, pair.warm_steps - hits
        rows.append((f"Warm-model requests on a replica holding the model ({total} back to back, 4 models, "
                     "2 replicas)", f"{100 * hits / total:.1f} %"))
    finally:
        from ray import serve

        if ray.is_initialized():
            serve.shutdown()
            ray.shutdown()
        cluster.shutdown()
        _ = first
        shutil.rmtree(tmp, ignore_errors=True)

    print("| Measure (`hgbot bench --runtime ray`) | Result |\n| --- | --- |")
    for k, v in rows:
        print(f"| {k} | {v} |")
    return 0


