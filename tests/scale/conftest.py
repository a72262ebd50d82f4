"""A local Ray cluster for the scale-out tests: a head and two worker nodes on this machine.

Each worker node offers one ``fake_gpu`` (a custom resource standing in for a GPU), the head none,
so GPU-share replicas land on the workers. Loopback only, Ray's files in a temporary directory,
token auth on, everything stopped after the module.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    keys = ("PYTHONPATH", "RAY_TMPDIR", "RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    saved = {k: os.environ.get(k) for k in keys}
    # Ray's "no multi-host cluster" switch makes every node and the GCS use 127.0.0.1 instead of the
    # host's address: nothing listens beyond loopback. Set for this process and the nodes it spawns.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False
    # Replicas import this checkout (orchestrator/, tests/fakes) exactly as the test process does.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), saved["PYTHONPATH"]) if p)
    os.environ.pop("RAY_ADDRESS", None)
    # Short: Ray's unix sockets live under it (a 107-byte path limit); never /tmp/ray, which is shared.
    tmp = tempfile.mkdtemp(prefix="hgray-", dir="/tmp")
    os.environ["RAY_TMPDIR"] = tmp
    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "node_ip_address": "127.0.0.1", "include_dashboard": False})
    c.add_node(num_cpus=2, resources={"fake_gpu": 1, "node_a": 1})
    c.add_node(num_cpus=2, resources={"fake_gpu": 1, "node_b": 1})
    c.wait_for_nodes()
    try:
        yield c
    finally:
        from ray import serve

        if ray.is_initialized():
            serve.shutdown()
            ray.shutdown()
        c.shutdown()
        ray_constants.ENABLE_RAY_CLUSTER = True
        shutil.rmtree(tmp, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


