"""Wiring: build the one application object (store, model cache, planner, executor, responder).

Nothing heavy is imported here: torch and friends load on first use, in worker threads.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from orchestrator.backends import BackendRegistry, default_registry
from orchestrator.catalog import Catalog
from orchestrator.executor import Executor
from orchestrator.llm import LLM, InProcessLLM, OpenAILLM
from orchestrator.pipeline import Orchestrator
from orchestrator.planner import Planner
from orchestrator.responder import Responder
from orchestrator.selector import Selector
from orchestrator.service import ChatService, OrchestratorService
from orchestrator.store import Store

from .config import Settings

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    store: Store
    orchestrator: Orchestrator
    catalog: Catalog
    selector: Selector
    cache: Any
    llm: LLM | None
    jobs: Any = None  # orchestrator.jobs.Jobs: the fair queue and durable jobs in front of the orchestrator
    runtime: Any = None  # orchestrator.runtime.ModelRuntime: where model steps run

    @property
    def service(self) -> ChatService:
        """The chat-service port the adapters use: this orchestrator, this store's ledger, these jobs."""
        return OrchestratorService(self.orchestrator, self.store, self.jobs)

    async def close(self) -> None:
        if self.jobs is not None:
            await self.jobs.close()
        if self.llm is not None:
            await self.llm.close()
        if self.runtime is not None:
            await self.runtime.close()
        await self.store.close()


def load_catalog(settings: Settings) -> Catalog:
    """``HGBOT_CATALOG``: a file, ``hub`` or ``offline``; by default hub models when an LLM endpoint is
    configured (a GPU host), else the packaged-weights catalog. Hub catalogs keep the packaged
    models after their own, as fallbacks."""
    choice = settings.catalog.strip()
    if choice and choice not in ("hub", "offline"):
        return Catalog.load(choice)
    offline = Catalog.load(offline_default=True)
    if choice == "offline" or (not choice and not settings.llm_configured):
        return offline
    hub = Catalog.load()
    listed = {(c.id, c.task) for c in hub.cards}
    cards = hub.cards + [c for c in offline.cards if (c.id, c.task) not in listed]
    return Catalog([_rerank(c, i) for i, c in enumerate(cards)])


def _rerank(card: Any, rank: int) -> Any:
    from dataclasses import replace

    return replace(card, rank=rank)


def build_llm(settings: Settings, runtime: Any = None) -> LLM | None:
    """The endpoint when configured, else the in-process model; with a ``LocalRuntime`` the
    in-process model is borrowed from its cache, under the one memory budget."""
    if settings.llm_configured:
        return OpenAILLM(model=settings.llm_model, base_url=settings.llm_base_url, api_key=settings.llm_api_key,
                         timeout=settings.llm_timeout, max_retries=settings.llm_max_retries)
    # Open chat only on a model chosen on purpose: the bundled SmolLM2-135M invents facts, so it is
    # used only when HGBOT_LOCAL_LLM names it (or a bigger local model).
    if settings.local_llm.lower() in ("", "none"):
        return None
    name = settings.local_llm or "SmolLM2-135M-Instruct (local)"
    if runtime is not None and hasattr(runtime, "lease"):
        return InProcessLLM(name=name, lease=functools.partial(_lease_chat_model, runtime, settings))

    def factory() -> Any:
        from orchestrator.backends.local_llm import LocalChatLLM

        return LocalChatLLM.create(settings.local_llm or None, home=settings.home)

    return InProcessLLM(factory, name=name)


@contextlib.asynccontextmanager
async def _lease_chat_model(runtime: Any, settings: Settings) -> AsyncIterator[Any]:
    from orchestrator.backends.local_llm import LocalChatLLM, chat_card

    card = chat_card(settings.local_llm or None, home=settings.home)
    async with runtime.lease(card) as model:
        yield LocalChatLLM(card, model=model)


def backend_problem(name: str) -> str | None:
    return default_registry().problem(name)


async def build_app(settings: Settings, *, llm: LLM | None = None, backends: BackendRegistry | None = None) -> App:
    from orchestrator import media
    from orchestrator.cache import ModelCache
    from orchestrator.runtime import ModelRuntime
    from orchestrator.runtimes import LocalRuntime
    from storage.factory import open_store

    settings.home.mkdir(parents=True, exist_ok=True)
    catalog = load_catalog(settings)
    store = await open_store(database_url=settings.database_url, blob_url=settings.blob_url,
                             db_path=settings.db_path, artifacts_dir=settings.artifacts_dir,
                             s3_endpoint=os.environ.get("HGBOT_S3_ENDPOINT"))
    device = ModelCache.detect_device(settings.device)
    budget = settings.memory_budget_mb * 1024 * 1024 or ModelCache.default_budget(device)
    backends = backends or default_registry()
    cache = ModelCache(budget, device, backend_lookup=backends.get)
    runtime: ModelRuntime = LocalRuntime(cache, task_timeout=settings.task_timeout,
                                         concurrency=settings.device_concurrency or settings.max_parallel)
    if os.environ.get("HGBOT_RUNTIME", "local") == "ray":  # model steps on a Ray Serve cluster (RAY_ADDRESS)
        from orchestrator.runtimes.ray import RayRuntime

        runtime = RayRuntime.from_env(settings.task_timeout)
    selector = Selector(catalog, runtime, backends.problem, profile="gpu" if device.name == "cuda" else "cpu",
                        licenses=frozenset(x.lower() for x in settings.licenses) or None)
    llm = llm if llm is not None else build_llm(settings, runtime)
    # The LLM that plans and summarizes: an endpoint, or a local model the config trusts to plan.
    endpoint = llm if settings.llm_configured or settings.local_llm_plans else None

    shared: dict[str, Any] = {}

    def router() -> Any:
        if not settings.fast_path and endpoint is not None:
            return None
        if "router" not in shared:
            from orchestrator.router import TaskRouter

            shared["router"] = TaskRouter.load(settings.fast_path_threshold or None)
        return shared["router"] if settings.fast_path else None

    def rules() -> Any:
        from orchestrator.embedded_planner import EmbeddedPlanner

        if "router" not in shared:
            from orchestrator.router import TaskRouter

            shared["router"] = TaskRouter.load(settings.fast_path_threshold or None)
        return EmbeddedPlanner(shared["router"])

    planner = Planner(llm=endpoint, candidates=lambda t: selector.top_ids(t, 3), router=router, rule_planner=rules,
                      history_tokens=settings.history_tokens)
    executor = Executor(runtime=runtime, selector=selector, store=store, max_parallel=settings.max_parallel)
    responder = Responder(llm, history_tokens=settings.history_tokens, summarize_with_llm=endpoint is not None)
    orchestrator = Orchestrator(store=store, planner=planner, executor=executor, responder=responder,
                                check_attachment=functools.partial(
                                    media.validate_attachment, max_audio_seconds=settings.max_audio_seconds),
                                max_file_bytes=settings.max_file_bytes, fetch=media.fetch_url)
    return App(settings=settings, store=store, orchestrator=orchestrator, catalog=catalog, selector=selector,
               cache=cache, llm=llm, jobs=build_jobs(settings, store, device), runtime=runtime)


def build_jobs(settings: Settings, store: Any, device: object, metrics: Any = None) -> Any:
    from orchestrator.jobs import Jobs
    from orchestrator.queue import FairQueue
    from orchestrator.quota import Quota

    queue = FairQueue(capacity=settings.max_jobs, per_user=settings.user_jobs, per_channel=settings.channel_jobs)
    quota = Quota(store, user_seconds=settings.user_device_seconds, channel_seconds=settings.channel_device_seconds,
                  admins=settings.admins)
    return Jobs(store, queue, admins=settings.admins, quota=quota, metrics=metrics,
                device=str(getattr(device, "name", device)), sweep_s=settings.job_sweep_s)
