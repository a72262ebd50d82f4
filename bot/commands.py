"""The CLI's commands. Each takes the parsed args and settings and returns an exit status."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from orchestrator.errors import ConfigError, HgbotError

from .config import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2  # 2 (bad input or configuration) also comes from bot.cli's handler


async def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.cli import TerminalProgress, build_request, dumps, render_reply, reply_json

    from .app import build_app

    err = Console(stderr=True)
    request = build_request(args.text, args.attach, args.channel, settings.max_file_bytes)
    app = await build_app(settings)
    try:
        # the same job path as the bots: recorded, queued, counted against the quota and in `hgbot usage`
        await app.jobs.start()
        job = await app.jobs.accept(request.conversation, user=request.user or "cli", text=request.text)
        replies: list[Any] = []
        with TerminalProgress(err, enabled=True) as progress:
            async def work(ctx: Any) -> None:
                replies.append(await app.orchestrator.handle(request, ctx.progress(progress)))

            await app.jobs.run(job, work)
    finally:
        await app.close()
    if not replies:
        raise HgbotError("The request did not finish; see the log above.")
    reply = replies[0]
    if args.json:
        print(dumps(reply_json(reply)))
    elif reply.error:
        err.print(f"hgbot: {reply.text}", markup=False, highlight=False)
    else:
        render_reply(Console(soft_wrap=True), reply)
    if reply.bad_input:
        return EXIT_USAGE  # a file or link the orchestrator refused: bad input, like a missing file
    return EXIT_FAILED if reply.error else EXIT_OK


async def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.cli import CHAT_COMMANDS, TerminalProgress, build_request, check_utf8, render_reply

    from .app import build_app

    out, err = Console(soft_wrap=True), Console(stderr=True)
    app = await build_app(settings)
    pending: list[str] = []
    lines = _stdin_lines()
    turn: asyncio.Task[Any] | None = None
    interrupts = 0

    def on_interrupt() -> None:
        # Ctrl-C cancels the running turn and keeps the session; twice at the prompt leaves.
        nonlocal interrupts
        if turn is not None and not turn.done():
            turn.cancel()
            return
        interrupts += 1
        if interrupts >= 2:
            lines.put_nowait(None)
        else:
            err.print("\n(Ctrl-C again, Ctrl-D or /quit to leave)", markup=False)

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    out.print(f"hgbot chat · conversation [bold]{args.channel}[/] · {', '.join(CHAT_COMMANDS)}")
    try:
        while True:
            out.print("you> ", end="")
            raw = await lines.get()
            if raw is None:
                break
            interrupts = 0
            try:
                line = check_utf8(raw, "That line").strip()
            except HgbotError as exc:
                err.print(exc.user_message(), markup=False)
                continue
            if not line:
                continue
            command = line.split(maxsplit=1)[0] if line.startswith("/") else ""
            if command in ("/quit", "/exit"):
                break
            if command == "/attach":
                path = line.split(" ", 1)[1].strip() if " " in line else ""
                if not path or not Path(path).expanduser().is_file():
                    err.print(f"No such file: {path or '(none given)'}", markup=False)
                else:
                    pending.append(path)
                    out.print(f"attached {path} (sent with your next message)", markup=False)
                continue
            if command == "/files":
                conv = await app.store.conversation(_cli_key(args.channel))
                for a in await app.store.artifacts(conv):
                    out.print(f"{a.handle} {a.kind} {a.filename} {a.path}", markup=False)
                continue
            if command:
                err.print(f"Unknown command {command}. Commands: {', '.join(CHAT_COMMANDS)}.", markup=False)
                continue
            try:
                request = build_request(line, pending, args.channel, settings.max_file_bytes)
            except HgbotError as exc:
                err.print(exc.user_message(), markup=False)
                continue
            pending = []
            with TerminalProgress(err) as progress:
                turn = asyncio.create_task(app.orchestrator.handle(request, progress))
                try:
                    reply = await turn
                except asyncio.CancelledError:
                    if not turn.cancelled():
                        raise  # the session itself is being cancelled
                    reply = None
                finally:
                    turn = None
            if reply is None:
                err.print("Cancelled. The conversation goes on.", markup=False)
            else:
                render_reply(out, reply)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        await app.close()
    return EXIT_OK


def _stdin_lines() -> asyncio.Queue[str | None]:
    """Lines of stdin, read by a daemon thread (None at end of input). A daemon thread, unlike
    ``to_thread(input)``, never keeps the process waiting for a line after the session ends."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        stream = sys.stdin.buffer
        while True:
            data = stream.readline()
            line = data.decode("utf-8", "surrogateescape").rstrip("\r\n") if data else None
            loop.call_soon_threadsafe(queue.put_nowait, line)
            if line is None:
                return

    threading.Thread(target=read, name="hgbot-stdin", daemon=True).start()
    return queue


def _cli_key(channel: str) -> Any:
    from adapters.cli import conversation_key

    return conversation_key(channel)


async def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    action = getattr(args, "action", "list")
    if action == "pull":
        return _models_pull(args, settings)
    if action == "check":
        return _models_check(args, settings)
    return _models_list(args, settings)


def _selected_cards(args: argparse.Namespace, settings: Settings) -> list[Any]:
    """The cards named by ``ID``s, ``--task``s and ``--profile`` (all of them when none is given);
    ConfigError for an unknown task or id, or a filter that leaves nothing."""
    from orchestrator import tasks as registry

    from .app import load_catalog

    catalog = load_catalog(settings)
    tasks = list(getattr(args, "task", None) or [])
    for task in tasks:
        if registry.get(task) is None:
            raise ConfigError(f"Unknown task {task!r}.", hint="hgbot models list shows the tasks and their models.")
        if not catalog.for_task(task):
            raise ConfigError(f"No model in the catalog can run {task!r}.",
                              hint="Add one to a catalog file and point HGBOT_CATALOG at it.")
    ids = list(getattr(args, "ids", None) or [])
    unknown = [i for i in ids if catalog.get(i) is None]
    if unknown:
        raise ConfigError(f"Not in the catalog: {', '.join(unknown)}.")
    profile = getattr(args, "profile", None)
    cards = [c for c in catalog.cards
             if (not tasks or c.task in tasks or registry.ALIASES.get(c.task) in tasks)
             and (not ids or c.id in ids) and (not profile or c.profile == profile)]
    if not cards:
        raise ConfigError("No card matches that selection.")
    return cards


def _models_list(args: argparse.Namespace, settings: Settings) -> int:
    from rich.table import Table

    from .app import backend_problem
    from .doctor import locally_available

    cards = _selected_cards(args, settings)
    allowed = {x.lower() for x in settings.licenses}
    table = Table(title=f"Model catalog ({len(cards)} models; NC = non-commercial licence)")
    for col in ("task", "model", "backend", "profile", "size", "license", "pulled", "can run here"):
        # the id whole, never cut: it is what `models pull ID` takes
        table.add_column(col, no_wrap=col == "model", min_width=max(len(c.id) for c in cards) if col == "model" else None)
    for card in cards:
        problem = backend_problem(card.backend) or card.missing_requirements()
        if allowed and card.license.lower() not in allowed:
            problem = "licence not in HGBOT_LICENSES"
        pulled = "yes" if locally_available(card) else "no"
        profile = "needs a GPU" if card.needs_gpu else "cpu"
        licence = card.license + (" (NC)" if card.noncommercial else "")
        table.add_row(card.task, card.id, card.backend, profile, _size(card.size), licence, pulled,
                      "no: " + problem if problem else "yes")
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return EXIT_OK


def _models_pull(args: argparse.Namespace, settings: Settings) -> int:
    from . import hub

    reason = hub.unreachable()
    if reason:
        print(f"hgbot: cannot pull: {reason}", file=sys.stderr)
        return EXIT_FAILED
    cards = [c for c in _selected_cards(args, settings) if not c.offline and not c.path]
    if not cards:
        print("Nothing to pull: the selected models ship inside installed packages.")
        return EXIT_OK
    api = hub.HuggingFaceHub()
    parts = hub.merge(p for card in cards for p in hub.plan_pull(card, api))
    todo = [hub.missing(p) for p in parts]
    total = sum(p.size for p in todo)
    target = hub.cache_dir()
    free = hub.free_bytes(target)
    here = sum(p.size for p in parts) - total
    print(f"{len(cards)} cards, {len(parts)} repositories, {_size(total)} to download into {target} "
          f"({_size(free)} free{', ' + _size(here) + ' already pulled' if here > 0 else ''}).")
    if total > free:
        print(f"hgbot: not enough disk space: {_size(total)} needed, {_size(free)} free at {target}.", file=sys.stderr)
        return EXIT_FAILED
    for part, left in zip(parts, todo, strict=True):
        name = f"{part.repo_id}{'@' + part.revision if part.revision else ''}"
        if not left.files:
            print(f"{name}: already pulled ({len(part.files)} files, {_size(part.size)})")
            continue
        print(f"{name}: {len(left.files)} files, {_size(left.size)}")
        api.snapshot_download(part.repo_id, revision=part.revision, allow_patterns=sorted(part.files))
    return EXIT_OK


def _models_check(args: argparse.Namespace, settings: Settings) -> int:
    import os
    import tempfile

    from orchestrator import twins

    from . import hub

    started = time.perf_counter()
    if getattr(args, "tiny", False):
        import torch

        # tiny models are all per-op overhead: one intra-op thread is faster, most of all on a busy box
        torch.set_num_threads(1)
        cards = _selected_cards(args, settings) if (args.ids or args.task or args.profile) else _hub_cards()
        with tempfile.TemporaryDirectory(prefix="hgbot-twins-") as root:
            verdicts = twins.check_cards(cards, Path(root), on_verdict=lambda v: print(v.line(), flush=True))
    else:
        reason = hub.unreachable()
        if reason:
            print(f"hgbot: {reason} Checking only the models already pulled.", file=sys.stderr, flush=True)
        from orchestrator.cache import ModelCache

        from .doctor import locally_available

        # the weights are on disk: never wait on the hub for a revision check
        os.environ["HF_HUB_OFFLINE"] = "1"
        cards = [c for c in _selected_cards(args, settings) if twins.needs_twin(c)]
        pulled = [c for c in cards if locally_available(c)]
        if not pulled:
            print("hgbot: none of the selected hub models is pulled here: run hgbot models pull first.",
                  file=sys.stderr)
            return EXIT_FAILED
        device = ModelCache.detect_device(settings.device)
        with tempfile.TemporaryDirectory(prefix="hgbot-check-") as root:
            verdicts = twins.check_real(pulled, Path(root), device=device,
                                        on_verdict=lambda v: print(v.line(), flush=True))
    print(twins.summary(verdicts, time.perf_counter() - started))
    return EXIT_FAILED if any(v.status == twins.FAIL for v in verdicts) else EXIT_OK


def _hub_cards() -> list[Any]:
    """Every card of the packaged hub catalog (what a GPU host with hub access would run)."""
    from orchestrator.catalog import Catalog

    return Catalog.load().cards


def _size(n: int) -> str:
    if n <= 0:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


async def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from .doctor import run_doctor

    return await run_doctor(settings, Console())


async def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from orchestrator.evaluation import (
        TBRecord,
        chat_scores,
        collect,
        format_chat_report,
        format_report,
        load_records,
        planning_context,
        prediction_line,
        score,
        split_half,
    )

    from .app import build_app

    path = Path(args.file).expanduser()
    if not path.is_file():
        raise ConfigError(f"No such file: {path}")
    try:
        records = load_records(path, args.limit)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a TaskBench or chat-style JSON-lines file ({exc}).") from exc
    if args.part != "all":
        records = split_half(records, "tune" if args.part == "tune" else "heldout")
    if args.planner == "embedded":
        settings.llm_base_url = settings.llm_api_key = ""
        settings.local_llm = "none"
    elif args.planner == "llm" and not settings.llm_configured:
        raise ConfigError("--planner llm needs an LLM endpoint (OPENAI_BASE_URL / OPENAI_API_KEY).")
    app = await build_app(settings)
    planner = app.orchestrator.planner
    err = Console(stderr=True)

    async def plan_fn(rec: TBRecord) -> Any:
        try:
            return await planner.plan(planning_context(rec))
        except HgbotError:
            return None

    try:
        started = time.perf_counter()
        with err.status(f"Planning {len(records)} requests…"):
            predictions, seconds = await collect(records, plan_fn)
    finally:
        await app.close()
    source = "LLM " + settings.llm_model if settings.llm_configured else "embedded planner (no LLM)"
    suite = "TaskBench HF tools" if args.suite == "taskbench" else "chat-style set"
    print(f"{suite} · {len(records)} records · planner: {source} · {time.perf_counter() - started:.1f}s")
    print(format_report(score(records, predictions, seconds)))
    chat = [i for i, r in enumerate(records) if r.chat_style]
    if chat:
        print(format_chat_report(chat_scores([records[i] for i in chat], [predictions[i] for i in chat])[0]))
    ms = sorted(1000 * s for s in seconds)
    if ms:
        print(f"ms per plan: median {ms[len(ms) // 2]:.1f}, max {ms[-1]:.1f}")
    if args.predictions:
        with Path(args.predictions).expanduser().open("w", encoding="utf-8") as fh:
            for rec, plan in zip(records, predictions, strict=True):
                fh.write(json.dumps(prediction_line(rec, plan)) + "\n")
    return EXIT_OK


async def cmd_plan(args: argparse.Namespace, settings: Settings) -> int:
    from .plan_command import run_plan

    return await run_plan(args, settings)


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .serve import serve

    return await serve(args, settings)


async def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from .bench import run_bench

    if getattr(args, "runtime", "local") == "ray":
        from .bench_ray import run_ray_bench

        return await run_ray_bench(repeat=args.repeat)
    result: int = await run_bench(settings, repeat=args.repeat)
    return result


async def cmd_usage(args: argparse.Namespace, settings: Settings) -> int:
    """Device seconds per user, channel or model since ``--since`` (default 7 days)."""
    import json

    from rich.table import Table

    from storage import SqliteStore

    since = time.time() - parse_duration(args.since)
    store = await SqliteStore.open(settings.db_path, settings.artifacts_dir)
    try:
        rows = [total.as_dict(args.by) for total in await store.usage_table(since, args.by)]
    finally:
        await store.close()
    if args.json:
        print(json.dumps({"since": round(since, 3), "by": args.by, "rows": rows}, ensure_ascii=False))
        return EXIT_OK
    table = Table(title=f"Usage by {args.by} over the last {args.since}")
    for col in (args.by, "jobs", "steps", "device s", "load s", "devices"):
        table.add_column(col, justify="right" if col in ("jobs", "steps", "device s", "load s") else "left")
    for r in rows:
        table.add_row(str(r[args.by] or "-"), str(r["jobs"]), str(r["steps"]), f"{r['seconds']:.1f}",
                      f"{r['load_seconds']:.1f}", r["devices"])
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return EXIT_OK


def parse_duration(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``90s`` (or plain seconds) as seconds; ``ConfigError`` otherwise."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    value = text.strip().lower()
    try:
        if value and value[-1] in units:
            return float(value[:-1]) * units[value[-1]]
        return float(value)
    except ValueError:
        raise ConfigError(f"--since {text!r} is not a duration; use e.g. 7d, 12h, 30m.") from None
