"""The OpenAI-compatible client against a real local HTTP server."""

from __future__ import annotations

import socket

import pytest

from orchestrator.errors import LLMBadResponse, LLMUnavailable
from orchestrator.llm import OpenAILLM, start_counting
from tests.fakes.llm_server import FakeLLMServer, HttpError


def client(url: str, retries: int = 0) -> OpenAILLM:
    return OpenAILLM(model="fake-model", base_url=url, api_key="k", timeout=5, max_retries=retries)


async def test_json_completion_sends_the_schema(fake_llm: FakeLLMServer) -> None:
    fake_llm.script({"tasks": []})
    llm = client(fake_llm.base_url)
    out = await llm.complete_json([{"role": "user", "content": "hi"}], {"type": "object"}, "hgbot_plan")
    await llm.close()
    assert out == '{"tasks": []}'
    fmt = fake_llm.requests[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "hgbot_plan"


async def test_stream_yields_chunks(fake_llm: FakeLLMServer) -> None:
    fake_llm.script("Hello there, friend")
    llm = client(fake_llm.base_url)
    chunks = [c async for c in llm.stream([{"role": "user", "content": "hi"}])]
    await llm.close()
    assert len(chunks) > 1 and "".join(chunks) == "Hello there, friend"


async def test_retries_on_429_are_counted(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(HttpError(429, headers={"Retry-After": "0"}), {"tasks": []})
    llm = client(fake_llm.base_url, retries=2)
    counter = start_counting()
    await llm.complete_json([{"role": "user", "content": "x"}], {"type": "object"}, "p")
    await llm.close()
    assert counter.calls == 2 and len(fake_llm.requests) == 2


async def test_error_body_becomes_readable_message(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(HttpError(400, {"error": {"message": "model 'x' does not support json_schema"}}))
    llm = client(fake_llm.base_url)
    with pytest.raises(LLMBadResponse, match="does not support json_schema"):
        await llm.complete_json([{"role": "user", "content": "x"}], {"type": "object"}, "p")
    await llm.close()


async def test_unreachable_endpoint() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = client(f"http://127.0.0.1:{port}/v1")
    with pytest.raises(LLMUnavailable, match="Cannot reach"):
        await llm.complete_json([{"role": "user", "content": "x"}], {"type": "object"}, "p")
    await llm.close()


async def test_bad_key(fake_llm: FakeLLMServer) -> None:
    fake_llm.script(HttpError(401, {"error": {"message": "bad key"}}))
    llm = client(fake_llm.base_url)
    with pytest.raises(LLMUnavailable, match="API key"):
        await llm.complete_json([{"role": "user", "content": "x"}], {"type": "object"}, "p")
    await llm.close()
