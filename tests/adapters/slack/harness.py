"""Shared pieces of the Slack scenarios: the served-bot handle, events and scripted plans."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from tests.adapters.slack.fake_slack import FakeSlack

CHANNEL = "C0GENERAL"
USER = "U0ALICE"
IMAGE_EDIT = {"id": "hgbot/image-edit", "task": "image-to-image", "backend": "python", "size": 0,
              "description": "Pillow edits"}
CAPTION = "image-to-image · hgbot/image-edit"


@dataclass
class Served:
    app: Any  # bot.app.App
    task: asyncio.Task[None]
    url: str  # the events URL in HTTP mode, "socket-mode" otherwise


Serve = Callable[..., Awaitable[Served]]


def png(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (8, 6)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def is_gray(data: bytes) -> bool:
    r, g, b = Image.open(io.BytesIO(data)).convert("RGB").getpixel((0, 0))  # type: ignore[misc]
    return bool(r == g == b)


def plan_edit(fake_llm: Any, text: str, seen: list[list[str]] | None = None) -> Callable[[dict[str, Any]], Any]:
    """A planning response editing the first artifact handle the planner was shown (``seen`` records them all)."""

    def respond(request: dict[str, Any]) -> dict[str, Any]:
        handles = fake_llm.handles(request)
        if seen is not None:
            seen.append(handles)
        assert handles, "the planner was shown no artifact"
        return {"tasks": [{"id": 1, "task": "image-to-image", "deps": [], "args": {"image": handles[0], "text": text}}]}

    return respond


def mention(fake: FakeSlack, text: str, *, thread_ts: str | None = None,
            files: list[dict[str, Any]] | None = None, user: str = USER) -> dict[str, Any]:
    """A person's ``@hgbot text`` in CHANNEL, recorded in the fake, as an Events API body."""
    event = fake.user_message(CHANNEL, user, f"<@{fake.bot_user}> {text}", thread_ts=thread_ts, files=files)
    event["type"] = "app_mention"
    event.pop("channel_type", None)  # app_mention events carry none
    event.pop("subtype", None)
    return fake.event_body(event)


def uploaded_ids(call_args: dict[str, Any]) -> list[str]:
    import json

    return [f["id"] for f in json.loads(call_args["files"])]
