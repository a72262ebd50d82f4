"""Fixtures: a fake Slack on 127.0.0.1 and a real hgbot App served by ``serve_slack`` against it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.slack import serve_slack
from tests.adapters.slack.fake_slack import FakeSlack
from tests.adapters.slack.harness import IMAGE_EDIT, Serve, Served


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def slack_bot(fake_slack: FakeSlack, make_app: Any) -> AsyncIterator[Serve]:
    """``served = await slack_bot(http=False, catalog=None, **settings)``: ``serve_slack`` running on a real App."""
    running: list[Served] = []

    async def serve(http: bool = False, catalog: list[dict[str, Any]] | None = None, **settings: Any) -> Served:
        app = await make_app(catalog=catalog if catalog is not None else [IMAGE_EDIT],
                             slack_bot_token=fake_slack.token, slack_app_token=fake_slack.app_token,
                             slack_signing_secret=fake_slack.signing_secret if http else "",
                             slack_api_url=fake_slack.api_url, **settings)
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve_slack(app, http=http, port=0, host="127.0.0.1",
                                               on_ready=lambda url: ready.set_result(url)))
        waiting: set[asyncio.Future[Any]] = {task, ready}
        done, _ = await asyncio.wait(waiting, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # raise what stopped it
        served = Served(app, task, ready.result())
        running.append(served)
        return served

    yield serve
    for served in running:
        served.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await served.task
