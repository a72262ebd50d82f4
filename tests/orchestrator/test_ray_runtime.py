"""RayRuntime without a cluster: GPU shares, configuration, and the retry/timeout rules of one call."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

pytest.importorskip("ray")

from ray.exceptions import ActorUnavailableError  # noqa: E402

from orchestrator.catalog import ModelCard  # noqa: E402
from orchestrator.errors import ConfigError, ModelError, TaskTimeout  # noqa: E402
from orchestrator.runtimes.ray import RayConfig, RoutingSettle, call, gpu_share  # noqa: E402
from orchestrator.runtimes.ray_serve import StepResult  # noqa: E402
from orchestrator.types import TextOutput  # noqa: E402

GIB = 1024**3
CARD = ModelCard(id="m/one", task="summarization", backend="fake", size=GIB)


def test_gpu_share_grows_with_the_model_and_is_capped_at_one_gpu() -> None:
    assert gpu_share(GIB, 0) == 0.0  # no GPUs: a CPU replica
    small, big = gpu_share(GIB, 80 * GIB), gpu_share(16 * GIB, 80 * GIB)
    assert 0 < small < big < 1
    assert gpu_share(4 * GIB, 80 * GIB, models_per_replica=4) > gpu_share(4 * GIB, 80 * GIB)  # room for the LRU
    assert gpu_share(200 * GIB, 80 * GIB) == 1.0
    assert (gpu_share(7 * GIB, 24 * GIB) * 8).is_integer()  # eighths: shares pack onto whole GPUs


def test_config_from_env_fixed_or_autoscaling_replicas() -> None:
    fixed = RayConfig.from_env({"HGBOT_RAY_REPLICAS": "3", "RAY_ADDRESS": "ray://head:10001"})
    assert fixed.address == "ray://head:10001" and fixed.deployment_options(0)["num_replicas"] == 3
    auto = RayConfig.from_env({"HGBOT_RAY_REPLICAS": "1-4", "HGBOT_RAY_GPU_MEMORY_GB": "24"})
    opts = auto.deployment_options(0.5)
    assert opts["autoscaling_config"]["min_replicas"] == 1 and opts["autoscaling_config"]["max_replicas"] == 4
    assert opts["ray_actor_options"]["num_gpus"] == 0.5 and auto.device == "cuda"
    fake = RayConfig(gpu_resource="fake_gpu").deployment_options(0.25)
    assert fake["ray_actor_options"]["resources"] == {"fake_gpu": 0.25}
    for bad in ("4-1", "0", "x"):
        with pytest.raises(ConfigError):
            RayConfig.from_env({"HGBOT_RAY_REPLICAS": bad})
    assert RayConfig.from_env({"HGBOT_RAY_CANCEL_GRACE_S": "1.5"}).cancel_grace_s == 1.5
    with pytest.raises(ConfigError):
        RayConfig.from_env({"HGBOT_RAY_CANCEL_GRACE_S": "-1"})


def test_a_replica_has_room_for_one_waiting_request_beyond_the_steps_it_runs() -> None:
    # at max_ongoing_requests Serve refuses and routes by "fewest models", not "holds the model"
    assert RayConfig().deployment_options(0.5)["max_ongoing_requests"] == 2
    assert RayConfig().deployment_options(0)["max_ongoing_requests"] == 5


@dataclass
class Response:
    outcome: Any
    cancelled: bool = False

    def result(self, timeout_s: float) -> StepResult:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome  # type: ignore[no-any-return]

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class Handle:
    """A deployment handle whose responses play back ``outcomes`` in order."""

    outcomes: list[Any]
    sent: list[Response] = field(default_factory=list)
    model_ids: list[str] = field(default_factory=list)

    def options(self, multiplexed_model_id: str) -> Handle:
        self.model_ids.append(multiplexed_model_id)
        return self

    @property
    def run(self) -> Handle:
        return self

    def remote(self, card: ModelCard, task: str, wire: dict[str, Any]) -> Response:
        self.sent.append(Response(self.outcomes[len(self.sent)]))
        return self.sent[-1]


OK = StepResult([TextOutput("done")], "host/abcd1234", "host/abcd1234/pid1")


def test_a_lost_replica_is_retried_once_and_routed_by_the_cards_key() -> None:
    handle = Handle([ActorUnavailableError("gone", None), OK])
    assert call(handle, CARD, "summarization", {"text": "x"}, 5).where == "host/abcd1234"
    assert len(handle.sent) == 2 and handle.model_ids == [CARD.key]


def test_lost_twice_is_a_clear_failure_and_a_model_error_is_not_retried() -> None:
    with pytest.raises(ModelError, match="lost twice"):
        call(Handle([ActorUnavailableError("gone", None)] * 2), CARD, "summarization", {}, 5)
    handle = Handle([ValueError("bad weights"), OK])
    with pytest.raises(ValueError):
        call(handle, CARD, "summarization", {}, 5)
    assert len(handle.sent) == 1


def test_a_timeout_cancels_the_request_on_the_cluster() -> None:
    handle = Handle([TimeoutError()])
    with pytest.raises(TaskTimeout, match="timed out after 5s"):
        call(handle, CARD, "summarization", {}, 5)
    assert handle.sent[0].cancelled


def test_after_a_load_dispatches_wait_until_serve_can_know_where_models_are() -> None:
    settle = RoutingSettle(window=0.3)
    handle = Handle([replace(OK, warm=True), OK, replace(OK, warm=True)])
    t = time.monotonic()
    call(handle, CARD, "summarization", {}, 5, settle)  # the replica held it: nothing to wait for after
    call(handle, CARD, "summarization", {}, 5, settle)  # loaded on its replica
    assert time.monotonic() - t < 0.2
    call(handle, CARD, "summarization", {}, 5, settle)
    assert time.monotonic() - t >= 0.3


def test_doctor_names_a_missing_or_silent_cluster_in_seconds() -> None:
    from orchestrator.runtimes.ray_status import cluster_lines

    [(ok, _, why)] = cluster_lines(RayConfig())
    assert not ok and "RAY_ADDRESS is unset" in why
    [(ok, _, why)] = cluster_lines(RayConfig(address="127.0.0.1:1"))
    assert not ok and "127.0.0.1:1 does not answer" in why
