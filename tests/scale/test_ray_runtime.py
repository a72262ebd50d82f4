"""RayRuntime on a local three-node cluster: steps spread over the worker nodes, say where they ran,
survive a lost node, and stop at the task timeout.

Slow: the cluster takes seconds to start on 2 cores, and each deployment a few more.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from orchestrator.catalog import ModelCard
from orchestrator.executor import Executor
from orchestrator.runtimes.ray import RayConfig, RayRuntime
from orchestrator.types import PlanTask, RunStatus
from orchestrator.validate import validate_plan
from tests.fakes.executor import MemoryStore

pytestmark = [pytest.mark.slow]

FAKE = (("fake", "tests.fakes.backends:FakeBackend"),)
GIB = 1024**3


class SleepySelector:
    """Each task its own fake card (a distinct multiplexed model), sleeping ``sleep`` seconds per run."""

    def __init__(self, sleep: float, size: int = GIB) -> None:
        self.sleep, self.size = sleep, size

    def choose(self, pt: PlanTask) -> list[ModelCard]:
        return [ModelCard(id=f"fake/{pt.task}", task=pt.task, backend="fake", size=self.size, profile="gpu",
                          options={"sleep": self.sleep})]

    def why_none(self, task: str) -> str:
        return "none"


def _runtime(timeout: float = 60.0) -> RayRuntime:
    # 16 GiB "GPUs", 1 GiB models: an eighth of a fake GPU each; two replicas of one deployment.
    config = RayConfig(min_replicas=2, max_replicas=2, models_per_replica=2, gpu_memory_bytes=16 * GIB,
                       gpu_resource="fake_gpu", backends=FAKE)
    return RayRuntime(config, task_timeout=timeout)


@pytest.fixture(scope="module")
def runtime(cluster: object) -> RayRuntime:
    import ray

    rt = _runtime()
    ray.init(address=cluster.address, namespace="hgbot", log_to_driver=False)  # type: ignore[attr-defined]
    rt.start()
    return rt


THREE = {"tasks": [
    {"id": 1, "task": "summarization", "deps": [], "args": {"text": "one"}},
    {"id": 2, "task": "text-to-image", "deps": [], "args": {"text": "a lighthouse"}},
    {"id": 3, "task": "image-to-text", "deps": [2], "args": {"image": "<GENERATED>-2"}},
]}


def _where_nodes(cluster: object) -> dict[str, str]:
    import ray

    return {n["NodeID"][:8]: ("a" if "node_a" in n["Resources"] else "b" if "node_b" in n["Resources"] else "head")
            for n in ray.nodes() if n["Alive"]}


async def test_three_task_graph_runs_on_two_worker_nodes_and_says_where(
        cluster: object, runtime: RayRuntime, tmp_path: Path) -> None:
    ex = Executor(cache=runtime, selector=SleepySelector(0.5), store=MemoryStore(tmp_path),  # type: ignore[arg-type]
                  task_timeout=60)
    runs = await ex.run(validate_plan(THREE, handles={}), conversation_id=1, run_id=None, artifacts={})
    assert [r.status for r in runs] == [RunStatus.OK] * 3, [r.error for r in runs]
    # the image made on the cluster came back as bytes and fed the next step
    assert runs[1].artifacts and runs[1].artifacts[0].path.read_bytes().startswith(b"\x89PNG")
    assert runs[2].texts and "image=" in runs[2].texts[0]
    nodes = _where_nodes(cluster)
    ran_on = {nodes[r.where.split("/")[1]] for r in runs if r.where}
    assert ran_on == {"a", "b"}, [r.where for r in runs]
    assert all(r.to_json()["where"] == r.where for r in runs)
