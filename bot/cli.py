"""The ``hgbot`` command line.

Start-up stays light: only config and argparse are imported here; the orchestrator, torch and
the platform SDKs load inside the command that needs them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Any

from orchestrator.errors import HgbotError

from .config import Settings, load_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hgbot", description="A self-hosted HuggingGPT: plans requests as graphs of "
                                "Hugging Face tasks and runs them on your own machine.")
    p.add_argument("--version", action="version", version="hgbot 0.1.0")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr (-vv for debug)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ask = sub.add_parser("ask", help="run one request through the whole pipeline")
    ask.add_argument("text", help="the request, e.g. 'read the text in this image aloud'")
    ask.add_argument("--attach", "-a", action="append", default=[], metavar="FILE", help="attach a file (repeatable)")
    ask.add_argument("--channel", "-c", default="cli", help="conversation name; same name = same conversation")
    ask.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")

    chat = sub.add_parser("chat", help="an interactive session (/attach PATH, /quit)")
    chat.add_argument("--channel", "-c", default="cli")

    models = sub.add_parser("models", help="the model catalog")
    models.add_argument("action", choices=["list"])
    models.add_argument("--task", help="only this task")

    sub.add_parser("doctor", help="check configuration, LLM, GPU, disk and database")

    ev = sub.add_parser("eval", help="evaluate the planner")
    ev.add_argument("suite", choices=["taskbench"])
    ev.add_argument("file", help="TaskBench-format records (JSON lines)")
    ev.add_argument("--limit", type=int, default=None)
    ev.add_argument("--planner", choices=["auto", "embedded", "llm"], default="auto",
                    help="auto: the configured planner (LLM when an endpoint is set, else embedded)")

    serve = sub.add_parser("serve", help="run the chat bots")
    serve.add_argument("platform", choices=["slack", "discord", "all"])
    serve.add_argument("--http", action="store_true", help="Slack: HTTP mode (Events API) instead of Socket Mode")
    serve.add_argument("--port", type=int, default=3000, help="Slack HTTP mode port")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--invite-url", action="store_true", help="Discord: print the bot's invite URL and exit")

    bench = sub.add_parser("bench", help="measure planning and request latency on this machine")
    bench.add_argument("--repeat", type=int, default=3)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage line on stderr
        if exc.code not in (0, None) and "--json" in argv:
            _fail(True, "Bad arguments: see the usage line on stderr.", EXIT_USAGE)
        raise
    as_json = bool(getattr(args, "json", False))
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        _quiet_libraries()
    try:
        _check_arguments(args)
        settings = load_settings()
        return asyncio.run(_dispatch(args, settings))
    except HgbotError as exc:
        return _fail(as_json, exc.user_message(), EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail(as_json, "interrupted", 130)
    except Exception as exc:  # a bug: one readable line, the traceback only when asked for
        logging.getLogger("hgbot").debug("unexpected error", exc_info=True)
        return _fail(as_json, f"unexpected error ({type(exc).__name__}: {exc}). Run with -vv for the traceback, "
                     "and please report it.", EXIT_FAILED)


def _fail(as_json: bool, message: str, code: int) -> int:
    """Report a failure that never produced a reply: one line on stderr, and with ``--json`` the
    one JSON object on stdout as well, so a script always has something to parse."""
    print(f"hgbot: {message}", file=sys.stderr)
    if as_json:
        from adapters.cli import dumps, error_json

        print(dumps(error_json(message)))
    return code


def _check_arguments(args: argparse.Namespace) -> None:
    """Every text argument must be UTF-8: a stray byte would otherwise fail deep inside, as a traceback."""
    from orchestrator.errors import InputError

    for name, value in vars(args).items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise InputError(f"The {name} argument is not valid UTF-8 (a stray byte at position "
                                     f"{exc.start}).", hint="Check the terminal's encoding (a UTF-8 locale).") from None


def _quiet_libraries() -> None:
    """Model libraries print load bars and INFO lines by default; our own progress display replaces them."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    for name in ("RapidOCR", "faster_whisper", "sentence_transformers", "httpx", "httpx2", "diffusers", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from . import commands

    handler: Any = getattr(commands, f"cmd_{args.command}")
    result: int = await handler(args, settings)
    return result


if __name__ == "__main__":
    sys.exit(main())
