"""RayRuntime on a local three-node cluster: steps spread over the worker nodes, say where they ran,
survive a lost node, and stop at the task timeout.

Slow: the cluster takes seconds to start on 2 cores, and each deployment a few more.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.catalog import ModelCard
from orchestrator.errors import TaskTimeout
from orchestrator.executor import Executor
from orchestrator.runtime import Blob
from orchestrator.runtimes.ray import RayConfig, RayRuntime
from orchestrator.runtimes.ray_status import cluster_lines
from orchestrator.types import PlanTask, RunStatus, TextOutput
from orchestrator.validate import validate_plan
from tests.conftest import write_catalog
from tests.fakes.backends import png_bytes
from tests.fakes.executor import MemoryStore
from tests.fakes.llm_server import FakeLLMServer

pytestmark = [pytest.mark.slow]

FAKE = (("fake", "tests.fakes.backends:FakeBackend"), ("marker", "tests.scale.backends:MarkerBackend"))
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
                       gpu_resource="fake_gpu", backends=FAKE, cancel_grace_s=0.5)
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
    ex = Executor(runtime=runtime, selector=SleepySelector(0.5), store=MemoryStore(tmp_path),  # type: ignore[arg-type]
                  max_parallel=4)
    runs = await ex.run(validate_plan(THREE, handles={}), conversation_id=1, run_id=None, artifacts={})
    assert [r.status for r in runs] == [RunStatus.OK] * 3, [r.error for r in runs]
    # the image made on the cluster came back as bytes and fed the next step
    assert runs[1].artifacts and runs[1].artifacts[0].path.read_bytes().startswith(b"\x89PNG")
    assert runs[2].texts and "image=" in runs[2].texts[0]
    nodes = _where_nodes(cluster)
    ran_on = {nodes[r.where.split("/")[1]] for r in runs if r.where}
    assert ran_on == {"a", "b"}, [r.where for r in runs]
    assert all(r.to_json()["where"] == r.where for r in runs)


def _plugin(where: Path) -> Path:
    """The fake backend installed as a user installs a plugin: an ``hgbot.backends`` entry point."""
    info = where / "hgbot_fake_backends-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hgbot-fake-backends\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[hgbot.backends]\nfake = tests.fakes.backends:FakeBackend\n")
    return where


async def test_hgbot_ask_json_on_the_cluster_says_where_each_step_ran(
        cluster: Any, runtime: RayRuntime, fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    fake_llm.script(THREE, "Done: a summary, a lighthouse and its caption.")
    cards = [{"id": f"fake/{task}", "task": task, "backend": "fake", "size": GIB, "profile": "gpu",
              "options": {"sleep": 0.5}} for task in ("summarization", "text-to-image", "image-to-text")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "HGBOT_"))}
    env.update({
        "HGBOT_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", "HGBOT_FAST_PATH": "0", "HGBOT_DEVICE": "cpu",
        "OPENAI_BASE_URL": fake_llm.base_url, "OPENAI_API_KEY": "k", "HGBOT_LLM_MODEL": "fake-model",
        "HGBOT_CATALOG": str(write_catalog(cards, tmp_path / "catalog.jsonl")),
        "HGBOT_RUNTIME": "ray", "RAY_ADDRESS": cluster.address, "HGBOT_RAY_REPLICAS": "2",
        # 8 GiB "GPUs": a deployment of its own (hgbot-gpu-0.375), beside the other tests' replicas
        "HGBOT_RAY_GPU_MEMORY_GB": "8", "HGBOT_RAY_GPU_RESOURCE": "fake_gpu", "HGBOT_RAY_DEVICE": "cpu",
        "HGBOT_RAY_BACKENDS": "fake=tests.fakes.backends:FakeBackend",  # what the replicas register
        "PYTHONPATH": os.pathsep.join((str(_plugin(tmp_path / "plugins")), env["PYTHONPATH"])),
    })
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "ask", "summarize 'one', draw a lighthouse and caption it", "--json",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
    out, err = await asyncio.wait_for(proc.communicate(), timeout=150)
    assert proc.returncode == 0, err.decode()[-3000:]
    data = json.loads(out)  # exactly one JSON object on stdout
    runs = data["runs"]
    assert [r["status"] for r in runs] == ["ok"] * 3, runs
    nodes = _where_nodes(cluster)
    assert {nodes[r["where"].split("/")[1]] for r in runs} == {"a", "b"}, [r["where"] for r in runs]


def test_doctor_lines_show_nodes_gpus_deployments_and_loaded_models(cluster: Any, runtime: RayRuntime) -> None:
    lines = {what: (ok, detail) for ok, what, detail in cluster_lines(replace(runtime.config, address=cluster.address))}
    assert lines["nodes"][0] and lines["nodes"][1].startswith("3 alive, 2 fake_gpu")
    ok, detail = lines["deployment hgbot-gpu-0.25"]
    assert ok and "2 replica(s)" in detail and "fake/" in detail  # the graph's models are held


async def _replicas_running(app: str, count: int, within: float) -> bool:
    from ray import serve

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        status = serve.status().applications.get(app)
        running = sum(d.replica_states.get("RUNNING", 0) for d in status.deployments.values()) if status else 0
        if running == count and sum(sum(d.replica_states.values()) for d in status.deployments.values()) == count:
            return True
        await asyncio.sleep(0.5)
    return False


async def test_the_port_runs_values_and_a_timed_out_step_is_stopped_on_the_cluster(
        cluster: object, runtime: RayRuntime, tmp_path: Path) -> None:
    quick = ModelCard(id="fake/quick", task="image-to-text", backend="fake", size=GIB, profile="gpu")
    wheres: list[str] = []
    image = {"image": Blob(png_bytes(), "image/png", ".png")}
    out = await runtime.run(quick, "image-to-text", image, on_where=wheres.append)
    assert isinstance(out[0], TextOutput) and "image=sha256:" in out[0].text and out[0].text.endswith(".png") and len(wheres) == 1
    assert runtime.is_warm(quick)

    # A model call that sleeps 4 s and then writes a marker: past the 1.5 s limit it must be stopped,
    # not just abandoned (a thread cannot be interrupted; the replica ends itself 0.5 s later).
    marker = tmp_path / "finished"
    stuck = ModelCard(id="fake/stuck", task="summarization", backend="marker", size=GIB, profile="gpu",
                      options={"sleep": 4, "marker": str(marker)})
    short = RayRuntime(runtime.config, task_timeout=1.5, _handles=runtime._handles, _settles=runtime._settles,
                       _started=True)
    started = time.monotonic()
    with pytest.raises(TaskTimeout, match="timed out after 2s on the Ray cluster"):
        await short.run(stuck, "summarization", {"text": "x"})
    assert time.monotonic() - started < 1.5 + 2  # the limit ends it, not the model

    # The next step does not wait for the runaway one: it runs on the other replica, or on the
    # stopping one and is retried elsewhere when that replica goes.
    t = time.monotonic()
    out = await runtime.run(quick, "image-to-text", image)
    assert isinstance(out[0], TextOutput) and time.monotonic() - t < 8
    await asyncio.sleep(max(0.0, started + 5.5 - time.monotonic()))
    assert not marker.exists(), "the timed-out model call ran to the end on the cluster"
    # Serve replaced the replica that stopped itself: two replicas again, for the next tests too.
    assert await _replicas_running(runtime.deployment_name(stuck), 2, within=45)


async def test_a_load_past_the_timeout_is_stopped_too(cluster: object, runtime: RayRuntime, tmp_path: Path) -> None:
    marker = tmp_path / "loaded"
    slow = ModelCard(id="fake/slow-load", task="summarization", backend="marker", size=GIB, profile="gpu",
                     options={"load_sleep": 4, "load_marker": str(marker)})
    short = RayRuntime(runtime.config, task_timeout=1.5, _handles=runtime._handles, _settles=runtime._settles,
                       _started=True)
    await asyncio.to_thread(short._handle, slow)  # deployed already when the module runs in order
    started = time.monotonic()
    with pytest.raises(TaskTimeout):
        await short.run(slow, "summarization", {"text": "x"})
    assert time.monotonic() - started < 1.5 + 2
    await asyncio.sleep(max(0.0, started + 5.5 - time.monotonic()))
    assert not marker.exists(), "the timed-out load ran to the end on the cluster"
    assert await _replicas_running(runtime.deployment_name(slow), 2, within=45)


async def test_a_worker_node_killed_mid_step_is_retried_once_on_the_other_node(
        cluster: Any, runtime: RayRuntime, tmp_path: Path) -> None:
    card = ModelCard(id="fake/steady", task="summarization", backend="fake", size=GIB, profile="gpu",
                     options={"sleep": 2.0})
    wheres: list[str] = []
    await runtime.run(card, "summarization", {"text": "warm"}, on_where=wheres.append)
    first = wheres[0].split("/")[1]
    victim = next(n for n in cluster.worker_nodes if n.node_id.startswith(first))

    started = time.monotonic()
    step = asyncio.create_task(runtime.run(card, "summarization", {"text": "again"}, on_where=wheres.append))
    await asyncio.sleep(1.0)  # the step is running on the warm replica, on ``victim``
    assert not step.done()
    await asyncio.to_thread(cluster.remove_node, victim)
    out = await asyncio.wait_for(step, 120)
    assert isinstance(out[0], TextOutput) and "text=again" in out[0].text
    assert wheres[1].split("/")[1] != first  # the retry ran on the surviving node
    assert time.monotonic() - started < runtime.task_timeout
