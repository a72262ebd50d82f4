"""Unit tests of the Slack adapter's pure parts: mrkdwn rendering, the throttled status, file checks."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, cast

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import render
from adapters.slack.files import RECENT_FILE_SECONDS, _is_login_page, recent_shared_files
from adapters.slack.progress import StatusMessage
from adapters.slack.server import authentic
from orchestrator.types import Artifact, EventType, ProgressEvent, Reply, RunStatus, TaskRun


def test_markdown_becomes_mrkdwn_and_code_is_left_alone() -> None:
    md = ("# Title\n**bold** and *italic* and ~~gone~~, [docs](https://x.io/a?b=1&c=2)\n"
          "- one\n- two\n\n```python\nx = a**2 * b  # <tag> & **not bold**\n```\nuse `a*b*c` here")
    out = render.to_mrkdwn(md)
    assert out.startswith("*Title*\n*bold* and _italic_ and ~gone~, <https://x.io/a?b=1&amp;c=2|docs>")
    assert "• one\n• two" in out
    assert "```\nx = a**2 * b  # &lt;tag&gt; &amp; **not bold**\n```" in out  # no language tag, no formatting
    assert "`a*b*c`" in out


def test_model_output_cannot_ping_or_inject_links() -> None:
    out = render.to_mrkdwn("hey @here <!channel> <@U123> <https://evil|click>")
    assert "@here" not in out and "<!channel>" not in out and "<@U123>" not in out and "<https" not in out


def test_chunks_stay_below_the_limit_and_reopen_code_fences() -> None:
    text = "para\n\n```\n" + "\n".join(f"line {i}" for i in range(800)) + "\n```\nend"
    parts = render.chunks(text, limit=1000)
    assert len(parts) > 3 and all(len(p) <= 1000 for p in parts)
    assert all(p.count("```") % 2 == 0 for p in parts)


def test_caption_and_summary_name_task_and_model(tmp_path: Path) -> None:
    art = Artifact(id="a1", conversation_id=1, kind="image", mime="image/png", path=tmp_path / "x.png", size=1,
                   task="image-to-image", model="hgbot/image-edit")
    assert render.caption(art) == "image-to-image · hgbot/image-edit"
    runs = (TaskRun(1, "image-to-image", "hgbot/image-edit", RunStatus.OK, 0.4),
            TaskRun(2, "image-to-text", None, RunStatus.FAILED, 0.1, error="no model"))
    summary = render.plan_summary(Reply(text="x", runs=runs, seconds=1.25, run_id=7))
    assert summary.splitlines()[0] == "⚠️ Done in 1.2s · 2 steps · run 7"
    assert "image-to-image · hgbot/image-edit" in summary and "no model" in summary


class RecordingClient:
    def __init__(self) -> None:
        self.updates: list[tuple[float, str]] = []

    async def chat_postMessage(self, **kwargs: Any) -> dict[str, Any]:
        return {"ts": "1.000001"}

    async def chat_update(self, **kwargs: Any) -> dict[str, Any]:
        self.updates.append((time.monotonic(), kwargs["text"]))
        await asyncio.sleep(0.01)
        return {"ok": True}


async def test_status_edits_are_coalesced_and_the_final_text_wins() -> None:
    client = RecordingClient()
    status = StatusMessage(cast(AsyncWebClient, client), "C1", "1.0", interval=0.2)
    await status.start("🧠 Thinking…")
    runs = (TaskRun(1, "text-to-image"),)
    await status.on_event(ProgressEvent(EventType.PLANNED, runs=runs))
    for i in range(40):  # a burst of streamed deltas
        await status.on_event(ProgressEvent(EventType.DELTA, text=f"w{i} "))
    await asyncio.sleep(0.45)
    assert 1 <= len(client.updates) <= 3, "edits were not coalesced"
    gaps = [b[0] - a[0] for a, b in zip(client.updates, client.updates[1:], strict=False)]
    assert all(g >= 0.19 for g in gaps)
    assert "w39" in client.updates[-1][1]  # the latest state, not an old one
    await status.finish("✅ Done")
    await asyncio.sleep(0.3)
    assert client.updates[-1][1] == "✅ Done"


def test_login_page_detection() -> None:
    assert _is_login_page(b"<!DOCTYPE html><html>sign in", "text/html", "image/png")
    assert _is_login_page(b"  <html><body>", "application/octet-stream", "image/png")
    assert not _is_login_page(b"\x89PNG\r\n", "image/png", "image/png")
    assert not _is_login_page(b"<html>", "text/html", "text/html")  # the user shared a real HTML file


def test_a_slash_command_takes_the_users_latest_recent_files_only() -> None:
    now = 10_000.0
    msgs: list[dict[str, Any]] = [{"user": "U2", "ts": "9990.0", "files": [{"id": "Fother"}]},
            {"user": "U1", "ts": "9980.0", "text": "no files"},
            {"user": "U1", "ts": "9970.0", "files": [{"id": "Fmine"}]},
            {"user": "U1", "ts": "9000.0", "files": [{"id": "Fold"}]}]
    assert [f["id"] for f in recent_shared_files(msgs, "U1", now)] == ["Fmine"]
    assert recent_shared_files(msgs[3:], "U1", now + RECENT_FILE_SECONDS) == []


@pytest.mark.parametrize(("ts", "ok"), [("1000", True), ("1299", True), ("1301", False), ("700", True),
                                        ("699", False), ("", False), ("12a", False), ("-5", False), ("١٠٠٠", False),
                                        ("1" * 13, False), ("9" * 5000, False), ("1e3", False), (" 1000 ", True)])
def test_timestamp_window(ts: str, ok: bool) -> None:
    import hashlib
    import hmac

    body = b'{"type": "event_callback"}'
    stamp = ts.strip().encode()
    sig = b"v0=" + hmac.new(b"s3cret", b"v0:" + stamp + b":" + body, hashlib.sha256).hexdigest().encode()
    headers = ((b"X-Slack-Request-Timestamp", ts.encode()), (b"X-Slack-Signature", sig))
    assert authentic(headers, body, b"s3cret", 1000.0) is ok
    assert authentic(headers, body + b" ", b"s3cret", 1000.0) is False  # the signature covers every byte


def _stand_in(**settings: Any) -> Any:
    from types import SimpleNamespace

    from bot.config import Settings

    return SimpleNamespace(settings=Settings(**settings), orchestrator=None, jobs=None,
                           store=SimpleNamespace(claim_delivery=None, find_conversation=None))


def test_the_client_uses_slack_api_url_and_retries_429s_and_5xx() -> None:
    from adapters.slack import build_slack_app

    bolt = build_slack_app(_stand_in(slack_bot_token="xoxb-1", slack_api_url="http://127.0.0.1:9/api"))
    assert bolt.client.base_url == "http://127.0.0.1:9/api/"
    kinds = {type(h).__name__ for h in bolt.client.retry_handlers}
    assert {"AsyncRateLimitErrorRetryHandler", "AsyncServerErrorRetryHandler",
            "AsyncConnectionErrorRetryHandler"} <= kinds


@pytest.mark.parametrize(("http", "settings", "missing"), [
    (False, {"slack_bot_token": "xoxb-1"}, "SLACK_APP_TOKEN"),
    (True, {"slack_bot_token": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
    (False, {"slack_app_token": "xapp-1"}, "SLACK_BOT_TOKEN"),
])
async def test_serve_slack_names_the_missing_setting(http: bool, settings: dict[str, str], missing: str) -> None:
    from adapters.slack import serve_slack
    from orchestrator.errors import ConfigError

    with pytest.raises(ConfigError, match=missing):
        await serve_slack(_stand_in(**settings), http=http)
