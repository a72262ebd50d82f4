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
        with TerminalProgress(err, enabled=True) as progress:
            reply = await app.orchestrator.handle(request, progress)
    finally:
        await app.close()
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
    import json

    from orchestrator.evaluation import (
        TBRecord,
        chat_scores,
        collect,
        format_chat_report,
        format_report,
        load_records,
        prediction_line,
        record_inputs,
        score,
        split_half,
    )
    from orchestrator.planner import PlanningContext

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
        # Planning quality over the whole task registry, whatever this machine's catalog runs.
        if rec.chat_style:
            resources, attached, previous = record_inputs(rec)
            ctx = PlanningContext(rec.request, (), resources, attached=attached, any_task=True,
                                  previous_text=previous)
        else:
            ctx = PlanningContext(rec.request, (), (), allow_literal_files=True, any_task=True)
        try:
            return await planner.plan(ctx)
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

    result: int = await run_bench(settings, repeat=args.repeat)
    return result

