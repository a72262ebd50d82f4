"""The CLI's commands. Each takes the parsed args and settings and returns an exit status."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from orchestrator.errors import ConfigError, HgbotError

from .config import Settings

EXIT_OK, EXIT_FAILED = 0, 1  # 2 (bad input or configuration) comes from bot.cli's HgbotError handler


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
    return EXIT_FAILED if reply.error else EXIT_OK


async def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.cli import TerminalProgress, build_request, render_reply

    from .app import build_app

    out, err = Console(soft_wrap=True), Console(stderr=True)
    app = await build_app(settings)
    pending: list[str] = []
    out.print(f"hgbot chat · conversation [bold]{args.channel}[/] · /attach PATH, /files, /quit")
    try:
        while True:
            try:
                line = (await asyncio.to_thread(input, "you> ")).strip()
            except EOFError:
                break
            if not line:
                continue
            if line in ("/quit", "/exit"):
                break
            if line.startswith("/attach "):
                path = line.split(" ", 1)[1].strip()
                if not Path(path).expanduser().is_file():
                    err.print(f"No such file: {path}", markup=False)
                else:
                    pending.append(path)
                    out.print(f"attached {path} (sent with your next message)", markup=False)
                continue
            if line == "/files":
                conv = await app.store.conversation(_cli_key(args.channel))
                for a in await app.store.artifacts(conv):
                    out.print(f"{a.handle} {a.kind} {a.filename} {a.path}", markup=False)
                continue
            try:
                request = build_request(line, pending, args.channel, settings.max_file_bytes)
            except HgbotError as exc:
                err.print(exc.user_message(), markup=False)
                continue
            pending = []
            with TerminalProgress(err) as progress:
                reply = await app.orchestrator.handle(request, progress)
            render_reply(out, reply)
    finally:
        await app.close()
    return EXIT_OK


def _cli_key(channel: str) -> Any:
    from adapters.cli import conversation_key

    return conversation_key(channel)


async def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from rich.table import Table

    from .app import backend_problem, load_catalog
    from .doctor import locally_available

    catalog = load_catalog(settings)
    table = Table(title=f"Model catalog ({len(catalog)} models)")
    for col in ("task", "model", "backend", "size", "license", "here"):
        table.add_column(col)
    for card in catalog.cards:
        if args.task and card.task != args.task:
            continue
        problem = backend_problem(card.backend)
        here = "no: " + problem if problem else ("yes" if locally_available(card) else "needs download")
        table.add_row(card.task, card.id, card.backend, _size(card.size), card.license, here)
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return EXIT_OK


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
    from orchestrator.evaluation import format_report, load_taskbench, run_eval
    from orchestrator.planner import PlanningContext

    from .app import build_app

    path = Path(args.file).expanduser()
    if not path.is_file():
        raise ConfigError(f"No such file: {path}")
    records = load_taskbench(path, args.limit)
    if args.planner == "embedded":
        settings.llm_base_url = settings.llm_api_key = ""
        settings.local_llm = "none"
    elif args.planner == "llm" and not settings.llm_configured:
        raise ConfigError("--planner llm needs an LLM endpoint (OPENAI_BASE_URL / OPENAI_API_KEY).")
    app = await build_app(settings)
    planner = app.orchestrator.planner
    err = Console(stderr=True)

    async def plan_fn(text: str) -> Any:
        try:
            return await planner.plan(PlanningContext(text, (), (), allow_literal_files=True))
        except HgbotError:
            return None

    try:
        started = time.perf_counter()
        with err.status(f"Planning {len(records)} requests…"):
            scores = await run_eval(records, plan_fn)
    finally:
        await app.close()
    source = "LLM " + settings.llm_model if settings.llm_configured else "embedded planner (no LLM)"
    print(f"TaskBench HF tools · {len(records)} records · planner: {source} · {time.perf_counter() - started:.1f}s")
    print(format_report(scores))
    return EXIT_OK


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .serve import serve

    return await serve(args, settings)


async def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from .bench import run_bench

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
        rows = await store.usage_table(since, args.by)
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
