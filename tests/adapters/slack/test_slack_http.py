"""Scenarios over HTTP mode: signed Events API and slash-command requests to ``serve_slack(http=True)``."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.adapters.slack.fake_slack import FakeSlack
from tests.adapters.slack.harness import CHANNEL, USER, Serve, mention


async def post(url: str, body: str, headers: dict[str, str], form: bool = False) -> tuple[int, str, float]:
    kind = "application/x-www-form-urlencoded" if form else "application/json"
    started = time.monotonic()
    async with aiohttp.ClientSession() as session, session.post(
            url, data=body.encode(), headers={**headers, "Content-Type": kind}) as resp:
        return resp.status, await resp.text(), time.monotonic() - started


async def test_a_signed_mention_is_answered_and_its_retry_is_not(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    served = await slack_bot(http=True)
    fake_llm.script({"tasks": []}, "Hello over HTTP.")
    event = mention(fake_slack, "hello")
    body = json.dumps(event)
    status, _, seconds = await post(served.url, body, fake_slack.sign(body))
    assert status == 200 and seconds < 3
    thread_ts = event["event"]["ts"]
    await fake_slack.wait_for(lambda: "Hello over HTTP." in fake_slack.bot_texts(CHANNEL, thread_ts))
    # Slack retries an event it thinks was lost, with the same event_id
    status, _, _ = await post(served.url, body, {**fake_slack.sign(body), "X-Slack-Retry-Num": "1",
                                                 "X-Slack-Retry-Reason": "http_timeout"})
    assert status == 200
    await asyncio.sleep(0.3)
    assert fake_slack.bot_texts(CHANNEL, thread_ts) == ["Hello over HTTP."]
    assert len(fake_llm.planning_requests()) == 1


async def test_a_signed_slash_command_is_acked_and_answered_in_its_thread(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    served = await slack_bot(http=True)
    fake_llm.script({"tasks": []}, "Command answer.")
    body = urlencode(fake_slack.command_payload("tell me a joke", user=USER, channel=CHANNEL))
    status, _, seconds = await post(served.url, body, fake_slack.sign(body), form=True)
    assert status == 200 and seconds < 3
    await fake_slack.wait_for(lambda: fake_slack.messages.get(CHANNEL))
    thread_ts = fake_slack.messages[CHANNEL][0]["ts"]
    await fake_slack.wait_for(lambda: "Command answer." in fake_slack.bot_texts(CHANNEL, thread_ts))


async def test_bad_signatures_and_bad_timestamps_are_refused_with_401(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    served = await slack_bot(http=True)
    body = json.dumps(mention(fake_slack, "hello"))
    good = fake_slack.sign(body)
    stale_ts = str(int(time.time()) - 600)
    cases = {
        "bad signature": {**good, "X-Slack-Signature": "v0=" + "0" * 64},
        "stale timestamp": fake_slack.sign(body, timestamp=stale_ts),  # correctly signed, but a replay
        "non-numeric timestamp": {**good, "X-Slack-Request-Timestamp": "yesterday"},
        "no timestamp": {"X-Slack-Signature": good["X-Slack-Signature"]},
        "no signature": {"X-Slack-Request-Timestamp": good["X-Slack-Request-Timestamp"]},
    }
    for name, headers in cases.items():
        status, _, _ = await post(served.url, body, headers)
        assert status == 401, name
    await asyncio.sleep(0.2)
    assert not fake_slack.calls_to("chat.postMessage") and not fake_llm.requests


async def test_url_verification_echoes_the_challenge(slack_bot: Serve, fake_slack: FakeSlack) -> None:
    served = await slack_bot(http=True)
    body = json.dumps({"token": "legacy", "challenge": "c-123", "type": "url_verification"})
    status, text, _ = await post(served.url, body, fake_slack.sign(body))
    assert status == 200 and "c-123" in text


def signed_bytes(fake: FakeSlack, body: bytes, timestamp: bytes) -> dict[str, bytes]:
    digest = hmac.new(fake.signing_secret.encode(), b"v0:" + timestamp + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": b"v0=" + digest.encode()}


async def post_bytes(url: str, body: bytes, headers: dict[str, bytes]) -> int:
    """POST with header values as raw bytes (aiohttp's client would refuse some of them)."""
    return await asyncio.to_thread(raw_post, url, body, headers)


def raw_post(url: str, body: bytes, headers: dict[str, bytes]) -> int:
    parsed = urlsplit(url)
    head = [b"POST " + parsed.path.encode() + b" HTTP/1.1", b"Host: " + parsed.netloc.encode(),
            b"Content-Type: application/json", b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    head += [name.encode() + b": " + value for name, value in headers.items()]
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        reply = b""
        while b"\r\n" not in reply and (chunk := sock.recv(4096)):
            reply += chunk
    return int(reply.split(b" ", 2)[1])


async def test_unauthenticated_junk_is_always_a_401_never_a_500(
        slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    served = await slack_bot(http=True)
    body = json.dumps(mention(fake_slack, "hello")).encode()
    now = str(int(time.time())).encode()
    good = signed_bytes(fake_slack, body, now)
    cases: dict[str, tuple[bytes, dict[str, bytes]]] = {
        # signed correctly over the absurd timestamp: only the timestamp check can refuse these
        "5,000-digit timestamp": (body, signed_bytes(fake_slack, body, b"1" * 5000)),
        "4,300-digit timestamp": (body, signed_bytes(fake_slack, body, b"9" * 4300)),
        "310-digit timestamp (float overflow)": (body, signed_bytes(fake_slack, body, b"9" * 310)),
        "non-numeric timestamp": (body, signed_bytes(fake_slack, body, b"now")),
        "negative timestamp": (body, signed_bytes(fake_slack, body, b"-" + now)),
        "unicode digits": (body, signed_bytes(fake_slack, body, "١٧٠٠٠٠٠٠٠٠".encode())),
        "non-UTF-8 body": (b"\xff\xfe" + body, good),
        "non-UTF-8 headers": (body, {**good, "X-Slack-Signature": b"v0=\xff\xfe"}),
        "missing headers": (body, {}),
        "missing signature": (body, {"X-Slack-Request-Timestamp": now}),
        "huge body": (body + b" " * (2 * 1024 * 1024), good),
        "signature of another body": (body + b" ", good),
    }
    for name, (payload, headers) in cases.items():
        assert await post_bytes(served.url, payload, headers) == 401, name
    # the genuine request still gets through after all that
    assert await post_bytes(served.url, body, good) == 200
    await asyncio.sleep(0.2)
    assert len(fake_llm.planning_requests()) <= 1


_FIELD_BYTES = st.binary(max_size=80).map(lambda b: bytes(c for c in b if c in _FIELD_VALUE))
_FIELD_VALUE = set(range(0x21, 0x7F)) | set(range(0x80, 0x100)) | {0x20, 0x09}  # RFC 9110 field-value bytes


async def test_any_header_and_body_bytes_get_401(slack_bot: Serve, fake_slack: FakeSlack, fake_llm: Any) -> None:
    served = await slack_bot(http=True)
    now = st.builds(lambda: str(int(time.time())).encode())  # fresh: only the signature can refuse it

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(timestamp=st.one_of(_FIELD_BYTES, now, st.integers().map(lambda i: str(i).encode()),
                               st.integers(1, 6000).map(lambda n: b"9" * n)),
           signature=st.one_of(_FIELD_BYTES, st.text("0123456789abcdef", min_size=64, max_size=64).map(
               lambda h: ("v0=" + h).encode())),
           body=st.binary(max_size=2048), drop=st.sampled_from(["", "timestamp", "signature"]))
    def property_(timestamp: bytes, signature: bytes, body: bytes, drop: str) -> None:
        headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
        headers.pop({"timestamp": "X-Slack-Request-Timestamp", "signature": "X-Slack-Signature"}.get(drop, ""), None)
        assert raw_post(served.url, body, headers) == 401

    await asyncio.to_thread(property_)
    assert not fake_llm.requests and not fake_slack.calls_to("chat.postMessage")
