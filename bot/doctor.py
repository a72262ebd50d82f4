"""``hgbot doctor``: check what a deployment needs and say what to fix."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
from typing import Any

from rich.console import Console
from rich.markup import escape

from orchestrator.catalog import ModelCard
from orchestrator.errors import HgbotError
from orchestrator.redact import Redactor, redact_url

from .config import ENV, SECRETS, URLS, Settings
from .platforms import PLATFORMS

OK, WARN, FAIL = "[green]ok[/]", "[yellow]warn[/]", "[red]FAIL[/]"


def locally_available(card: ModelCard) -> bool:
    """True when the weights are on this machine (packaged, a local path, or in the hub cache)."""
    if card.offline:
        return True
    from pathlib import Path

    if card.path:
        return Path(card.path).exists()
    try:
        from huggingface_hub import try_to_load_from_cache

        def cached(repo: str, revision: str | None, names: tuple[str, ...]) -> bool:
            return any(isinstance(try_to_load_from_cache(repo, f, revision=revision), str) for f in names if f)

        # at the card's pinned commit: a pull at a commit writes no refs/main
        names = ("config.json", "model_index.json", "preprocessor_config.json", str(card.options.get("file") or ""))
        if not cached(card.id, card.revision or None, names):
            return False
        # a ControlNet card runs only with its ControlNet too (pulled beside it, at its main revision)
        controlnet = str(card.options.get("controlnet") or "")
        return not controlnet or Path(controlnet).exists() or cached(controlnet, None, ("config.json",))
    except Exception:
        return False


async def run_doctor(settings: Settings, console: Console) -> int:
    failures = 0
    redact = Redactor(settings.secrets())

    def row(status: str, what: str, detail: str = "") -> None:
        nonlocal failures
        failures += status == FAIL
        # details are literal text: "pip install -e '.[offline]'" must not be read as rich markup
        text = escape(redact(what + (f" — {detail}" if detail else "")))
        console.print(f"{status:>18}  {text}", highlight=False)

    console.print("[bold]Configuration[/]")
    row(OK, "config file", str(settings.config_file) if settings.config_file else "none (env vars and defaults)")
    defaults = Settings(home=settings.home)
    for name, var in ENV.items():
        value = getattr(settings, name)
        if value != getattr(defaults, name) and name != "home":  # only what the env or file changed
            shown = "set" if name in SECRETS else redact_url(str(value)) if name in URLS else str(value)
            row(OK, var, shown)
    row(OK, "HGBOT_HOME", str(settings.home))

    console.print("[bold]Storage[/]")
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(settings.home).free / 1e9
        row(OK if free > 5 else WARN, "disk", f"{free:.1f} GB free at {settings.home}")
        from storage import SqliteStore

        store = await SqliteStore.open(settings.db_path, settings.artifacts_dir)
        stats = (await store.stats()).as_dict()
        await store.close()
        row(OK, "database", f"{settings.db_path} " + ", ".join(f"{k}={v}" for k, v in stats.items()))
    except (HgbotError, OSError) as exc:
        row(FAIL, "database", str(exc))

    console.print("[bold]Language model[/]")
    if settings.llm_configured:
        await _check_llm(settings, row)
    elif settings.local_llm.lower() not in ("", "none"):
        row(OK, "LLM", f"no endpoint: embedded planner + local model {settings.local_llm} for open chat")
    else:
        row(WARN, "LLM", "no endpoint: embedded planner; open chat is off (set OPENAI_BASE_URL, or HGBOT_LOCAL_LLM "
            "to a local instruct model of ~1B+ parameters)")
        problem = await _embedded_planner_problem(settings)
        # without an endpoint the embedded planner is the only planner: every request needs it
        row(FAIL if problem else OK, "planner", f"no planner: {problem}. Configure OPENAI_BASE_URL, or install the "
            "embedded default with pip install -e '.[offline]' in the hgbot checkout" if problem
            else "embedded planner (no LLM) loads")

    console.print("[bold]Models[/]")
    from .app import backend_problem, load_catalog

    try:
        catalog = load_catalog(settings)
        usable = [c for c in catalog.cards if backend_problem(c.backend) is None]
        here = [c for c in usable if locally_available(c)]
        tasks = sorted({c.task for c in here})
        row(OK if here else WARN, "catalog", f"{len(catalog)} models, {len(usable)} runnable, {len(here)} on disk "
            f"covering {len(tasks)} tasks")
        nc = sorted({c.id for c in catalog.cards if c.noncommercial and (not settings.licenses or c.license.lower()
                                                                          in {x.lower() for x in settings.licenses})})
        if nc:
            row(WARN, "licences", f"{len(nc)} non-commercial models in use: {', '.join(nc)} (HGBOT_LICENSES filters them)")
        for name in sorted({c.backend for c in catalog.cards}):
            problem = backend_problem(name)
            row(OK if problem is None else WARN, f"backend {name}", problem or "available")
        # a model not on disk still runs when the hub can be reached to download it
        runnable = here if _hub_offline() else usable
        if not runnable:
            row(FAIL, "models", "no model in the catalog can run here"
                + (" (HF_HUB_OFFLINE is set and none is on disk)" if usable else " (no backend of it is installed)")
                + ": requests with files will fail. Install the embedded default (pip install -e '.[offline]' in the "
                "hgbot checkout) or point HGBOT_CATALOG at models you have")
    except HgbotError as exc:
        row(FAIL, "catalog", exc.user_message())

    console.print("[bold]Hardware[/]")
    if importlib.util.find_spec("torch") is None:
        row(WARN, "torch", "not installed: only the onnxruntime/CTranslate2 backends can run")
    else:
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            row(OK, "GPU", f"{props.name}, {props.total_memory / 2**30:.0f} GiB (models load in fp16)")
        else:
            row(WARN, "GPU", "none: models run on the CPU (fine for the embedded default, slow for diffusion)")

    if os.environ.get("HGBOT_RUNTIME", "local") == "ray":
        console.print("[bold]Ray cluster[/]")
        from orchestrator.runtimes.ray_status import cluster_lines

        for ok, what, detail in await asyncio.to_thread(cluster_lines):
            row(OK if ok else FAIL, what, detail)

    console.print("[bold]Chat platforms[/]")
    for plat in PLATFORMS:
        status, detail = plat.doctor(settings.section(plat.config))
        row({"ok": OK, "fail": FAIL}.get(status, WARN), plat.title, detail)
    console.print("[bold]" + ("All essential checks passed." if not failures else f"{failures} check(s) failed.") + "[/]")
    return 0 if not failures else 1


def _hub_offline() -> bool:
    import os

    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


async def _embedded_planner_problem(settings: Settings) -> str | None:
    """None when the embedded planner loads (its router embeds the task list with MiniLM), else why not."""
    import asyncio

    def load() -> None:
        from orchestrator.router import TaskRouter

        TaskRouter.load(settings.fast_path_threshold or None)

    try:
        await asyncio.to_thread(load)
    except Exception as exc:  # any failure here is what "No planner is available" would hide later
        return f"the embedded planner does not load ({type(exc).__name__}: {exc})"
    return None


async def _check_llm(settings: Settings, row: Any) -> None:
    import openai

    client = openai.AsyncOpenAI(api_key=settings.llm_api_key or "not-needed", base_url=settings.llm_base_url or None,
                                timeout=10, max_retries=0)
    where = redact_url(settings.llm_base_url) if settings.llm_base_url else "api.openai.com"
    try:
        models = await client.models.list()
        ids = [m.id for m in models.data]
        has = settings.llm_model in ids or not ids
        row(OK if has else "[yellow]warn[/]", "LLM", f"{where} reachable; model {settings.llm_model}"
            + ("" if has else f" not listed (available: {', '.join(ids[:5])})"))
    except openai.APIConnectionError:
        row(FAIL, "LLM", f"cannot reach {where}: check OPENAI_BASE_URL and that the server runs")
    except openai.AuthenticationError:
        row(FAIL, "LLM", f"{where} refused the API key: check OPENAI_API_KEY")
    except openai.APIStatusError as exc:
        row("[yellow]warn[/]", "LLM", f"{where} answered HTTP {exc.status_code} to /models (some servers lack it)")
    finally:
        await client.close()
