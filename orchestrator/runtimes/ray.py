"""``HGBOT_RUNTIME=ray``: every model step runs on a Ray Serve cluster (``RAY_ADDRESS``).

The runtime gives the executor what the in-process model cache gives it (``use(card)`` yields a
model whose blocking ``run`` the executor calls in a worker thread; ``is_loaded``/``fits`` for the
selector), but the model is a proxy: ``run`` reads file inputs into bytes, sends card, task and
values to the deployment for the card's GPU share (:mod:`.ray_serve`) with the card's key as the
multiplexed model id, and returns the outputs (bytes again) with the node that ran them.

Faults: a replica or node lost mid-step is retried once (Serve routes the retry to a live
replica); a second loss fails the step with a sentence saying so, and the executor skips its
dependents. A step past the task timeout is reported as a timeout at once and cancelled on the
cluster: the Serve request is cancelled, which cancels the replica's coroutine, and a model call
still running ``HGBOT_RAY_CANCEL_GRACE_S`` later ends its replica's process (:mod:`.ray_serve`), so
the runaway step stops using the GPU; Serve starts a fresh replica.

Configuration (environment, read once): ``RAY_ADDRESS`` (Ray's own variable; unset starts a local
Ray), ``HGBOT_RAY_REPLICAS`` (``N`` or ``MIN-MAX`` for autoscaling, per deployment, default 1),
``HGBOT_RAY_MODELS_PER_REPLICA`` (the multiplexed LRU's size, default 2), ``HGBOT_RAY_GPU_MEMORY_GB``
(one GPU's memory on the cluster's nodes, for the shares; 0 = CPU only), ``HGBOT_RAY_GPU_RESOURCE``
(``GPU``, or a custom resource name standing in for GPUs in tests), ``HGBOT_RAY_DEVICE``
(``cuda``/``cpu`` on the replicas), ``HGBOT_RAY_BACKENDS`` (``name=module:factory,...``: plugin
backends the replicas register), ``HGBOT_RAY_CANCEL_GRACE_S`` (default 5: how long a cancelled model
call may run on before its replica ends itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog import ModelCard
from ..errors import ConfigError, ModelError, TaskTimeout
from ..runtime import Blob, OnStart, OnWhere, StepInputs, Value
from ..types import Output
from .ray_serve import ServerOptions, StepResult, WireFile, WireInputs, build_server

log = logging.getLogger(__name__)

# Shares are rounded up to eighths of a GPU: finer shares would pack models the card sizes cannot
# promise to fit (activations, CUDA context), coarser ones waste cards.
_SHARE_STEP = 8
_HEADROOM = 1.25  # weights are not all a model needs on the GPU


def gpu_share(size_bytes: int, gpu_memory_bytes: int, models_per_replica: int = 1) -> float:
    """The fraction of one GPU a replica holding ``models_per_replica`` models of ``size_bytes`` needs.

    0 without GPUs; at most 1 (a model larger than a GPU gets a whole one and the backend's own
    offloading, rather than a share no node has)."""
    if gpu_memory_bytes <= 0:
        return 0.0
    need = size_bytes * _HEADROOM * max(models_per_replica, 1) / gpu_memory_bytes
    return min(1.0, max(1, math.ceil(need * _SHARE_STEP)) / _SHARE_STEP)


@dataclass(frozen=True)
class RayConfig:
    address: str = ""
    min_replicas: int = 1
    max_replicas: int = 1
    models_per_replica: int = 2
    gpu_memory_bytes: int = 0
    gpu_resource: str = "GPU"
    device: str = "cpu"
    backends: tuple[tuple[str, str], ...] = ()
    namespace: str = "hgbot"
    cancel_grace_s: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RayConfig:
        env = os.environ if env is None else env
        try:
            low, _, high = env.get("HGBOT_RAY_REPLICAS", "1").partition("-")
            min_r, max_r = int(low), int(high or low)
            per = int(env.get("HGBOT_RAY_MODELS_PER_REPLICA", "2"))
            gpu_gb = float(env.get("HGBOT_RAY_GPU_MEMORY_GB", "0"))
            grace = float(env.get("HGBOT_RAY_CANCEL_GRACE_S", "5"))
        except ValueError as exc:
            raise ConfigError(f"Ray settings: {exc}") from exc
        if not 0 <= min_r <= max_r or max_r < 1 or per < 1 or grace < 0:
            raise ConfigError("HGBOT_RAY_REPLICAS must be N or MIN-MAX with MIN ≤ MAX and MAX ≥ 1, "
                              "HGBOT_RAY_MODELS_PER_REPLICA at least 1, HGBOT_RAY_CANCEL_GRACE_S at least 0.")
        pairs = [item.strip().partition("=") for item in env.get("HGBOT_RAY_BACKENDS", "").split(",") if "=" in item]
        backends = tuple((name, spec) for name, _, spec in pairs)
        return cls(address=env.get("RAY_ADDRESS", ""), backends=backends, min_replicas=min_r, max_replicas=max_r,
                   models_per_replica=per, gpu_memory_bytes=int(gpu_gb * 1024**3), cancel_grace_s=grace,
                   gpu_resource=env.get("HGBOT_RAY_GPU_RESOURCE", "GPU"),
                   device=env.get("HGBOT_RAY_DEVICE", "cuda" if gpu_gb > 0 else "cpu"))

    def deployment_options(self, share: float) -> dict[str, Any]:
        actor: dict[str, Any] = {"num_cpus": 0.5}
        if share > 0:
            if self.gpu_resource == "GPU":
                actor["num_gpus"] = share
            else:
                actor["resources"] = {self.gpu_resource: share}
        # A GPU replica runs one step at a time (steps on one GPU only queue behind each other) and
        # lets one more wait inside it: a replica at max_ongoing_requests is refused and the request
        # routed by "fewest models" instead of "holds the model" (see ray_serve's docstring).
        opts: dict[str, Any] = {"ray_actor_options": actor, "max_ongoing_requests": steps_at_once(share) + 1,
                                "health_check_period_s": 2, "health_check_timeout_s": 10}
        if self.min_replicas == self.max_replicas:
            opts["num_replicas"] = self.max_replicas
        else:
            opts["autoscaling_config"] = {"min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                                          "target_ongoing_requests": 1}
        return opts


def steps_at_once(share: float) -> int:
    """Model calls a replica runs at once: one on a GPU share, a few on CPU."""
    return 1 if share > 0 else 4


def _lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the replica or its node went away (worth one retry elsewhere)."""
    import ray.exceptions as rex

    lost = (rex.RayActorError, rex.ActorUnavailableError, rex.NodeDiedError, rex.WorkerCrashedError,
            rex.ObjectLostError, rex.OwnerDiedError)
    return isinstance(exc, lost) or "ActorDiedError" in type(exc).__name__


@dataclass
class RoutingSettle:
    """Holds dispatches to one deployment back briefly after one of its replicas loaded a model.

    Serve's routers learn which replica holds which model from the replicas' reports (pushed every
    0.1 s, then relayed by the controller). A request routed before the report after a load arrives
    goes by a stale map: a model just loaded looks held nowhere ("fewest models" picks a replica,
    perhaps another one, which loads a second copy and evicts a model there), and a model just
    evicted still looks held by the replica that dropped it, which loads it again and evicts another:
    a cascade. Measured with back-to-back zero-work steps over 4 models on 2 replicas (LRU 2): 72-74 %
    warm hits without the wait; 100 % with 0.15 s (twice) and 0.25 s (twice); 0.3 s leaves a margin
    for a busier controller. Waiting only after evictions was not enough (97-98 %). A load takes
    seconds on a real model; the wait is a fraction of one, and only dispatches inside it wait."""

    window: float = 0.3
    _until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self) -> None:
        with self._lock:
            delay = self._until - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def loaded(self) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + self.window)


def call(handle: Any, card: ModelCard, task: str, wire: WireInputs, timeout: float,
         settle: RoutingSettle | None = None) -> StepResult:
    """One step on the cluster, blocking (run it in a worker thread): retried once when the replica or
    its node is lost; ``TaskTimeout`` past ``timeout``, after cancelling the request on the cluster."""
    routed = handle.options(multiplexed_model_id=card.key)
    for attempt in (1, 2):
        if settle is not None:
            settle.wait()
        response = routed.run.remote(card, task, wire)
        try:
            result: StepResult = response.result(timeout_s=timeout)
            if settle is not None and not result.warm:
                settle.loaded()
            return result
        except TimeoutError as exc:
            # Cancelling the Serve request cancels the replica's coroutine, and the replica stops
            # the model call (ends itself) if it runs on; the executor is told now, not then.
            response.cancel()
            raise TaskTimeout(f"{card.id} timed out after {timeout:.0f}s on the Ray cluster") from exc
        except Exception as exc:
            if not _lost(exc):
                raise
            if attempt == 2:
                raise ModelError(f"{card.id}: the Ray replica running it was lost twice "
                                 f"({type(exc).__name__}); gave up.") from exc
            log.warning("replica lost running %s (%s); retrying once", card.id, type(exc).__name__)
    raise AssertionError("unreachable")


def to_wire(inputs: Mapping[str, Value | Path]) -> WireInputs:
    """Port values (and, from today's executor, local paths) as plain values for the cluster."""
    wire: WireInputs = {}
    for key, value in inputs.items():
        if isinstance(value, str):
            wire[key] = value
        elif isinstance(value, Path):
            wire[key] = WireFile(value.name, value.read_bytes())
        elif isinstance(value, Blob):
            wire[key] = WireFile(f"{key}{value.suffix}", value.data)
        else:  # a blob reference: this runtime has no blob store to read it through
            raise ModelError(f"the Ray runtime needs input {key!r} as bytes, not a blob reference")
    return wire


@dataclass
class RemoteModel:
    """Today's executor's view of one step on the cluster (``use()``): a fresh proxy per step, so
    ``where`` is this step's node."""

    card: ModelCard
    handle: Any
    timeout: float
    size_bytes: int = 0
    where: str | None = None
    on_done: Any = None
    settle: RoutingSettle | None = None

    def run(self, task: str, inputs: Mapping[str, str | Path]) -> list[Output]:
        result = call(self.handle, self.card, task, to_wire(inputs), self.timeout, self.settle)
        self.where = result.where
        if self.on_done is not None:
            self.on_done(self.card, result)
        return result.outputs


@dataclass
class RayRuntime:
    """Model steps on Ray Serve. ``start()`` connects (and deploys lazily, per GPU share)."""

    config: RayConfig = field(default_factory=RayConfig)
    task_timeout: float = 300.0
    _handles: dict[str, Any] = field(default_factory=dict)
    _settles: dict[str, RoutingSettle] = field(default_factory=dict)  # per deployment, as the handles
    _warm: dict[str, str] = field(default_factory=dict)  # card key -> replica that last ran it
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _inflight: set[asyncio.Task[StepResult]] = field(default_factory=set)
    _started: bool = False
    steps: int = 0  # steps that returned, and of those, the ones whose replica already held the model
    warm_steps: int = 0

    @classmethod
    def from_env(cls, task_timeout: float) -> RayRuntime:
        return cls(RayConfig.from_env(), task_timeout=task_timeout)

    def start(self) -> None:
        import ray
        from ray import serve

        if not ray.is_initialized():
            ray.init(address=self.config.address or None, namespace=self.config.namespace,
                     include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        # No HTTP proxy: steps go through handles only, and no port is opened for them.
        serve.start(http_options={"location": "NoServer"})
        self._started = True

    def share(self, card: ModelCard) -> float:
        if card.profile == "cpu" and self.config.device == "cpu":
            return 0.0
        return gpu_share(card.size, self.config.gpu_memory_bytes, self.config.models_per_replica)

    def deployment_name(self, card: ModelCard) -> str:
        share = self.share(card)
        return "hgbot-cpu" if share == 0 else f"hgbot-gpu-{share:g}"

    def _handle(self, card: ModelCard) -> Any:
        from ray import serve

        name = self.deployment_name(card)
        with self._lock:  # steps arrive from several worker threads; deploy each share once
            if name not in self._handles:
                if not self._started:
                    self.start()
                opts = ServerOptions(device=self.config.device, half=self.config.device == "cuda",
                                     max_models=self.config.models_per_replica, backends=self.config.backends,
                                     steps_at_once=steps_at_once(self.share(card)),
                                     cancel_grace_s=self.config.cancel_grace_s)
                app = build_server(opts).options(name="ModelServer",
                                                 **self.config.deployment_options(self.share(card))).bind()
                self._handles[name] = serve.run(app, name=name, route_prefix=None)
                self._settles[name] = RoutingSettle()
            return self._handles[name]

    def settle(self, card: ModelCard) -> RoutingSettle | None:
        return self._settles.get(self.deployment_name(card))

    # --- the ModelRuntime port -----------------------------------------------------------------------

    async def run(self, card: ModelCard, task: str, inputs: StepInputs, *, on_start: OnStart | None = None,
                  on_where: OnWhere | None = None) -> list[Output]:
        """The port's ``run``. The time limit counts from dispatch: the cluster does not say when a
        replica has loaded the model. ``on_where`` (optional, Ray only) is told the node that ran it."""
        handle = await asyncio.to_thread(self._handle, card)  # the first use of a share deploys: seconds
        wire = to_wire(inputs)
        if on_start is not None:
            on_start()
        work = asyncio.create_task(asyncio.to_thread(call, handle, card, task, wire, self.task_timeout,
                                                     self.settle(card)))
        self._inflight.add(work)
        work.add_done_callback(self._inflight.discard)
        # shield: a cancelled caller must not orphan the thread unseen; drain() waits for it
        result = await asyncio.shield(work)
        self._remember(card, result)
        if on_where is not None:
            on_where(result.where)
        return result.outputs

    def is_warm(self, card: ModelCard) -> bool:
        return card.key in self._warm

    def warm(self) -> list[str]:
        return list(self._warm)

    async def drain(self) -> None:
        while self._inflight:
            await asyncio.wait(set(self._inflight))

    # --- today's executor and selector (ModelSource, the cache's queries) -------------------------------

    def is_loaded(self, card: ModelCard) -> bool:
        return self.is_warm(card)

    def fits(self, card: ModelCard) -> bool:
        return self.config.gpu_memory_bytes <= 0 or self.share(card) < 1.0 or card.size * _HEADROOM <= self.config.gpu_memory_bytes

    def loaded(self) -> list[str]:
        return self.warm()

    @contextlib.asynccontextmanager
    async def use(self, card: ModelCard) -> AsyncIterator[RemoteModel]:
        handle = await asyncio.to_thread(self._handle, card)  # the first use deploys: seconds
        yield RemoteModel(card, handle, self.task_timeout, size_bytes=card.size, on_done=self._remember,
                          settle=self.settle(card))

    def _remember(self, card: ModelCard, result: StepResult) -> None:
        self._warm[card.key] = result.replica
        self.steps += 1
        self.warm_steps += result.warm

    async def close(self) -> None:
        """Leaves the deployments running (other bot replicas share them); disconnects this process."""
        import ray

        await self.drain()

        if ray.is_initialized():
            ray.shutdown()
