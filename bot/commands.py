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

