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
from orchestrator.redact import Redactor, install_log_redaction

from .config import Settings, load_settings
from .platforms import PLATFORMS

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

    models = sub.add_parser("models", help="the model catalog: list, pull from the hub, check")
    models.add_argument("action", choices=["list", "pull", "check"],
                        help="list: the catalog here; pull: download hub models; check: run each once")
    models.add_argument("ids", nargs="*", metavar="ID", help="only these models")
    models.add_argument("--task", action="append", default=[], help="only this task (repeatable)")
    models.add_argument("--profile", choices=["cpu", "gpu"], help="only cards sized for a CPU or a GPU")
    models.add_argument("--tiny", action="store_true",
                        help="check: run every hub card's code path on a tiny random-weight twin, offline")

    sub.add_parser("doctor", help="check configuration, LLM, GPU, disk and database")

    plan = sub.add_parser("plan", help="show the plan for a request (tasks, args, models) and run nothing")
    plan.add_argument("text", help="the request")
    plan.add_argument("--attach", "-a", action="append", default=[], metavar="FILE", help="attach a file (repeatable)")
    plan.add_argument("--channel", "-c", default="cli", help="conversation whose earlier files and answers count")
    plan.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")

    ev = sub.add_parser("eval", help="evaluate the planner")
    ev.add_argument("suite", choices=["taskbench", "chat"])
    ev.add_argument("file", help="TaskBench or chat-style records (JSON lines)")
    ev.add_argument("--limit", type=int, default=None)
    ev.add_argument("--part", choices=["all", "tune", "untouched"], default="all",
                    help="a fixed half of the set (by id parity): tune = even ids, untouched = odd ids")
    ev.add_argument("--predictions", metavar="OUT.jsonl", help="write one predicted graph per record")
    ev.add_argument("--planner", choices=["auto", "embedded", "llm"], default="auto",
                    help="auto: the configured planner (LLM when an endpoint is set, else embedded)")

    serve = sub.add_parser("serve", help="run the chat bots")
    serve.add_argument("platform", choices=[p.name for p in PLATFORMS] + ["all"])
    serve.add_argument("--http", action="store_true", help="Slack: HTTP mode (Events API) instead of Socket Mode")
    serve.add_argument("--port", type=int, default=3000, help="Slack HTTP mode port")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--invite-url", action="store_true", help="Discord: print the bot's invite URL and exit")

    usage = sub.add_parser("usage", help="device seconds used, by user, channel or model")
    usage.add_argument("--since", default="7d", help="how far back: 7d, 12h, 30m (default 7d)")
    usage.add_argument("--by", choices=["user", "channel", "model"], default="user")
    usage.add_argument("--json", action="store_true", help="print one JSON object")

    bench = sub.add_parser("bench", help="measure planning and request latency on this machine")
    bench.add_argument("--repeat", type=int, default=3)
    bench.add_argument("--runtime", choices=["local", "ray"], default="local",
                       help="ray: the Ray runtime's figures on a local cluster started for the run")
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
    pulling = args.command == "models" and args.action == "pull"  # a download keeps its progress bars
    if not args.verbose and not pulling:
        _quiet_libraries()
    redact = Redactor()
    try:
        _check_arguments(args)
        settings = load_settings()
        redact = install_log_redaction(settings.secrets()).redactor  # no credential in any log line
        return asyncio.run(_dispatch(args, settings))
    except HgbotError as exc:
        return _fail(as_json, redact(exc.user_message()), EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail(as_json, "interrupted", 130)
    except Exception as exc:  # a bug: one readable line, the traceback only when asked for
        logging.getLogger("hgbot").debug("unexpected error", exc_info=True)
        return _fail(as_json, f"unexpected error ({type(exc).__name__}: {redact(str(exc))}). Run with -vv for the traceback, "
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
