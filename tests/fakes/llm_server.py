"""A scripted OpenAI-compatible server on 127.0.0.1: real HTTP for the real ``openai`` client.

``script(*responses)`` queues answers, consumed in order:
- a ``dict``/``list`` → JSON content of the next completion (planning calls),
- a ``str`` → the next chat reply (SSE-streamed when the request asks for ``stream``),
- an ``HttpError(status, body, headers)`` → that HTTP error,
- a callable ``f(request_json)`` → one of the above, computed from the request.
With the queue empty, JSON requests get ``{"tasks": []}`` and chat requests get "ok".
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_HANDLE = re.compile(r"artifact:[A-Za-z0-9_-]+")


@dataclass
class HttpError:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Response = dict[str, Any] | list[Any] | str | HttpError | Callable[[dict[str, Any]], Any]


class FakeLLMServer:
    def __init__(self) -> None:
        self.queue: list[Response] = []
        self.requests: list[dict[str, Any]] = []
        self.delay = 0.0
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def script(self, *responses: Response) -> None:
        self.queue.extend(responses)

    @staticmethod
    def handles(request_json: dict[str, Any]) -> list[str]:
        """Artifact handles in the request's last message (the available files, newest first)."""
        messages = request_json.get("messages", [])
        text = str(messages[-1].get("content", "")) if messages else ""
        text = text.split("Available files", 1)[-1]
        return list(dict.fromkeys(_HANDLE.findall(text)))

    def planning_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("response_format")]

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self.base_url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "test"}]})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if self.delay:
            await asyncio.sleep(self.delay)
        wants_json = bool(body.get("response_format"))
        item: Any = self.queue.pop(0) if self.queue else ({"tasks": []} if wants_json else "ok")
        if callable(item):
            item = item(body)
        if isinstance(item, HttpError):
            return web.json_response(item.body if item.body is not None else {"error": {"message": "scripted error"}},
                                     status=item.status, headers=item.headers)
        content = item if isinstance(item, str) else json.dumps(item)
        if body.get("stream"):
            return await self._stream(request, content)
        return web.json_response({
            "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })

    async def _stream(self, request: web.Request, content: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        words = re.findall(r"\S+\s*|\s+", content) or [""]
        for i, piece in enumerate(words):
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                     "choices": [{"index": 0, "delta": {"content": piece} if i else {"role": "assistant", "content": piece},
                                  "finish_reason": None}]}
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        end = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "fake",
               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await resp.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
        await resp.write_eof()
        return resp
