"""The LLM edge: one small interface, an OpenAI-compatible client, and per-request call counting.

``LLM`` is all the planner and responder need. ``OpenAILLM`` speaks Chat Completions to any
OpenAI-compatible server (OpenAI, vLLM, llama.cpp server, Ollama) through the ``openai`` package,
which already retries 429/5xx/connection errors with exponential backoff; we translate its
exceptions into ours so people read "cannot reach the LLM at …", never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import LLMBadResponse, LLMError, LLMUnavailable
from .redact import Redactor, redact_url, url_secrets

log = logging.getLogger(__name__)

ChatMessage = dict[str, str]


@dataclass
class CallCounter:
    """Counts requests sent to the LLM for one hgbot request (retries and repair turns included)."""

    calls: int = 0


_counter: contextvars.ContextVar[CallCounter | None] = contextvars.ContextVar("hgbot_llm_calls", default=None)


def start_counting() -> CallCounter:
    """Begin counting LLM calls in the current task (and the tasks it spawns)."""
    counter = CallCounter()
    _counter.set(counter)
    return counter


def count_call() -> None:
    counter = _counter.get()
    if counter is not None:
        counter.calls += 1


class LLM(Protocol):
    name: str

    async def complete_json(self, messages: list[ChatMessage], schema: dict[str, Any], schema_name: str) -> str:
        """One completion whose content should be JSON matching ``schema``; returns the raw content."""
        ...

    def stream(self, messages: list[ChatMessage], max_tokens: int = 800) -> AsyncIterator[str]:
        """Stream the content of one chat completion, chunk by chunk."""
        ...

    async def close(self) -> None: ...


class OpenAILLM:
    """Chat Completions over the ``openai`` client; ``base_url`` may point at any compatible server."""

    def __init__(self, *, model: str, base_url: str = "", api_key: str = "", timeout: float = 60.0,
                 max_retries: int = 2) -> None:
        import openai  # light: the CLI imports this module only when an endpoint is configured

        self._openai = openai

        async def _on_request(_request: Any) -> None:
            count_call()

        http_client = openai.DefaultAsyncHttpxClient(event_hooks={"request": [_on_request]})
        self.model = model
        self.base_url = base_url or "https://api.openai.com/v1"
        # what people and logs see: never the userinfo or query secrets of the endpoint
        self.shown_url = redact_url(self.base_url)
        self.name = f"{model} @ {self.shown_url}"
        self._redact = Redactor([api_key, *url_secrets(self.base_url)])
        self._client = openai.AsyncOpenAI(
            api_key=api_key or "not-needed", base_url=base_url or None, timeout=timeout,
            max_retries=max_retries, http_client=http_client,
        )

    async def complete_json(self, messages: list[ChatMessage], schema: dict[str, Any], schema_name: str) -> str:
        try:
            wire: Any = messages  # our plain dicts are the wire format the SDK's TypedDicts describe
            resp = await self._client.chat.completions.create(
                model=self.model,
                messages=wire,
                response_format={"type": "json_schema", "json_schema": {"name": schema_name, "schema": schema}},
                temperature=0,
            )
        except self._openai.OpenAIError as exc:
            raise self._translate(exc) from exc
        choices = getattr(resp, "choices", None)
        if not choices or choices[0].message is None:
            raise LLMBadResponse(f"The LLM ({self.model}) answered without any choices.")
        content = choices[0].message.content
        if not content:
            refusal = getattr(choices[0].message, "refusal", None)
            raise LLMBadResponse(f"The LLM ({self.model}) returned an empty answer" + (f": {refusal}" if refusal else "."))
        return str(content)

    async def stream(self, messages: list[ChatMessage], max_tokens: int = 800) -> AsyncIterator[str]:
        try:
            wire: Any = messages
            stream = await self._client.chat.completions.create(
                model=self.model, messages=wire, stream=True, max_tokens=max_tokens,
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except self._openai.OpenAIError as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: Exception) -> LLMError:
        o = self._openai
        where = f"the LLM at {self.shown_url}"
        # "The" by hand: str.capitalize() would also lower-case the URL
        at = "The" + where[3:]
        if isinstance(exc, o.APITimeoutError):
            return LLMUnavailable(f"Timed out waiting for {where}.", hint="Check the server or raise HGBOT_LLM_TIMEOUT.")
        if isinstance(exc, o.APIConnectionError):
            return LLMUnavailable(f"Cannot reach {where}.", hint="Check OPENAI_BASE_URL and that the server is running.")
        if isinstance(exc, o.AuthenticationError):
            return LLMUnavailable(f"{at} refused the API key (HTTP 401).", hint="Check OPENAI_API_KEY.")
        if isinstance(exc, o.RateLimitError):
            return LLMUnavailable(f"{at} is rate limiting us (HTTP 429) even after retries.",
                                  hint="Try again in a minute.")
        if isinstance(exc, o.APIStatusError):
            # the server's own words may quote the key or the URL back (OpenAI's 401 does)
            return LLMBadResponse(f"{at} returned HTTP {exc.status_code}: {self._redact(_error_text(exc))}")
        return LLMBadResponse(f"{at} sent an answer hgbot could not read ({type(exc).__name__}).")

    async def close(self) -> None:
        await self._client.close()


def _error_text(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        return json.dumps(body)[:300]
    return str(getattr(exc, "message", exc))[:300]


class LocalModel(Protocol):
    """What an in-process model offers (``orchestrator.backends.local_llm.LocalChatLLM``)."""

    def stream(self, messages: list[ChatMessage], max_tokens: int = 256) -> AsyncIterator[str]: ...

    async def complete_json(self, messages: list[ChatMessage], schema: dict[str, Any], max_tokens: int = 512) -> str: ...


ModelLease = Callable[[], AbstractAsyncContextManager[LocalModel]]

_LOCAL_HINT = ("Install the embedded default (pip install -e '.[offline]' in the hgbot checkout) "
               "or configure OPENAI_BASE_URL.")


class InProcessLLM:
    """The ``LLM`` interface over a local model.

    With ``lease`` (what the app wires) the model is borrowed from the model runtime for each call,
    so it is loaded under the same memory budget as every other model and may be evicted between
    calls. With ``factory`` (tools and tests) it is created on first use and kept."""

    def __init__(self, factory: Callable[[], LocalModel] | None = None, name: str = "local", *,
                 lease: ModelLease | None = None) -> None:
        if (factory is None) == (lease is None):
            raise TypeError("InProcessLLM needs exactly one of factory or lease")
        self._factory = factory
        self._lease = lease
        self._model: LocalModel | None = None
        self.name = name

    def _unavailable(self, exc: Exception) -> LLMUnavailable:
        return LLMUnavailable(f"The local language model ({self.name}) could not be loaded: {exc}", hint=_LOCAL_HINT)

    async def _get(self) -> LocalModel:
        model = self._model
        if model is None:
            assert self._factory is not None
            try:
                loaded: LocalModel = await asyncio.to_thread(self._factory)
            except Exception as exc:
                raise self._unavailable(exc) from exc
            model = self._model = loaded
        return model

    @contextlib.asynccontextmanager
    async def _use(self) -> AsyncIterator[LocalModel]:
        if self._lease is None:
            yield await self._get()
            return
        async with contextlib.AsyncExitStack() as stack:
            try:
                model = await stack.enter_async_context(self._lease())
            except LLMError:
                raise
            except Exception as exc:
                raise self._unavailable(exc) from exc
            yield model

    async def complete_json(self, messages: list[ChatMessage], schema: dict[str, Any], schema_name: str) -> str:
        async with self._use() as model:
            count_call()
            return await model.complete_json(messages, schema)

    async def stream(self, messages: list[ChatMessage], max_tokens: int = 256) -> AsyncIterator[str]:
        async with self._use() as model:
            count_call()
            async for chunk in model.stream(messages, max_tokens):
                yield chunk

    async def close(self) -> None:
        self._model = None
