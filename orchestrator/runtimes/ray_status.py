"""What ``hgbot doctor`` says about the Ray cluster: nodes, GPUs, deployments, loaded models.

Connects with a short reachability probe first: ``ray.init`` to an address nobody answers retries
for minutes, and a doctor must answer in seconds.
"""

from __future__ import annotations

import socket
from typing import Any

from .ray import RayConfig

Line = tuple[bool, str, str]  # (ok, what, detail)


def _reachable(address: str, timeout: float = 3.0) -> str | None:
    """None when ``host:port`` (or ``ray://host:port``) accepts a connection, else why not."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return None  # "auto" or a form Ray resolves itself
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return None
    except OSError as exc:
        return f"{address} does not answer ({exc.strerror or exc})"


def cluster_lines(config: RayConfig | None = None) -> list[Line]:
    config = config or RayConfig.from_env()
    if not config.address:
        return [(False, "Ray", "HGBOT_RUNTIME=ray but RAY_ADDRESS is unset (e.g. RAY_ADDRESS=head-host:6379)")]
    problem = _reachable(config.address)
    if problem:
        return [(False, "Ray", problem)]
    import ray
    from ray import serve

    lines: list[Line] = []
    owned = not ray.is_initialized()  # leave a connection this process already has alone
    try:
        if owned:
            ray.init(address=config.address, namespace=config.namespace, log_to_driver=False)
        alive = [n for n in ray.nodes() if n.get("Alive")]
        gpus = sum(float(n["Resources"].get(config.gpu_resource, 0)) for n in alive)
        lines.append((bool(alive), "nodes", f"{len(alive)} alive, {gpus:g} {config.gpu_resource}, "
                      + ", ".join(f"{n['NodeManagerAddress']}/{n['NodeID'][:8]}" for n in alive)))
        apps = {name: app for name, app in serve.status().applications.items() if name.startswith("hgbot-")}
        if not apps:
            lines.append((True, "deployments", "none yet (each GPU share deploys on its first step)"))
        for name, app in apps.items():
            replicas = sum(sum(d.replica_states.values()) for d in app.deployments.values())
            loaded = _loaded(serve.get_app_handle(name))
            lines.append((app.status == "RUNNING", f"deployment {name}",
                          f"{app.status}, {replicas} replica(s); loaded: {', '.join(loaded) or 'none'}"))
    except Exception as exc:  # any Ray failure is a doctor line, not a traceback
        lines.append((False, "Ray", f"{type(exc).__name__}: {exc}"))
    finally:
        if owned and ray.is_initialized():
            ray.shutdown()
    return lines


def _loaded(handle: Any) -> list[str]:
    """The models one replica holds (Serve routes a model's requests to the replicas holding it)."""
    try:
        return list(handle.loaded.remote().result(timeout_s=5))
    except Exception:
        return []
