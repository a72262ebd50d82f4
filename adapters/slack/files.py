"""Files shared in Slack → ``Attachment``s: fetched with the bot token, size- and type-checked.

Slack answers a download without a valid token or without the ``files:read`` scope with its
HTML sign-in page and status 200, not an error; we detect that page and say which scope is missing.
The orchestrator sniffs the bytes again; the checks here only fail early with a Slack-specific reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.kit import intake
from orchestrator.errors import InputError
from orchestrator.types import Attachment

from .errors import api_error

_SLACK_FILE_HOSTS = (".slack.com", ".slack-edge.com", ".slack-gov.com")
RECENT_FILE_SECONDS = 15 * 60
"""How far back a slash command looks for a file the user shared in the channel."""

MISSING_SCOPE = (
    "Slack sent its sign-in page instead of {name}: the app cannot read files. Add the `files:read` "
    "scope (it is in adapters/slack/manifest.yml), reinstall the app, and share the file again."
)


class FileFetcher:
    """Downloads ``url_private`` files for one workspace token.

    The token is only ever sent to Slack's file hosts or to the host of ``api_url``
    (``SLACK_API_URL``: GovSlack, a proxy, or the tests' fake Slack).
    """

    def __init__(self, client: AsyncWebClient, token: str, *, max_bytes: int, api_url: str = "") -> None:
        self._client = client
        self._token = token
        self._max_bytes = max_bytes
        self._extra_host = urlsplit(api_url).hostname if api_url else None

    async def attachments(self, files: Iterable[Mapping[str, Any]]) -> list[Attachment]:
        """Download every file; the first unusable one raises ``InputError`` with the reason."""
        out = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            for raw in files:
                info = await self._complete(raw)
                out.append(await self._download(session, info))
        return out

    async def _complete(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        name = raw.get("name") or raw.get("id") or "a file"
        if raw.get("mode") in ("tombstone", "hidden_by_limit"):
            raise InputError(f"{name} is no longer available in Slack.")
        if raw.get("url_private") and raw.get("file_access") != "check_file_info":
            return raw
        # Slack Connect and some events send a stub: files.info has the real record
        try:
            resp = await self._client.files_info(file=str(raw.get("id", "")))
        except SlackApiError as exc:
            raise InputError(f"Slack would not give me {name} ({api_error(exc)}).") from exc
        info = resp.get("file")
        if not isinstance(info, dict) or not info.get("url_private"):
            raise InputError(f"Slack gave no download link for {name}.")
        return info

    def _check(self, info: Mapping[str, Any]) -> tuple[str, str, str]:
        name = str(info.get("name") or info.get("title") or info.get("id") or "file")
        mime = str(info.get("mimetype") or "")
        url = str(info.get("url_private_download") or info.get("url_private"))
        if not intake.accepts(mime, name):
            raise InputError(f"I can't use {name} ({mime}): send an image, audio, video or a document.")
        size = int(info.get("size") or 0)
        if size > self._max_bytes:
            raise InputError(f"{name} is {_mb(size)}; the limit is {_mb(self._max_bytes)}.")
        if not self._trusted(url):
            raise InputError(f"{name} is not hosted by Slack; I only download Slack files.")
        return name, mime, url

    def _trusted(self, url: str) -> bool:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if self._extra_host and host == self._extra_host:
            return True
        return parts.scheme == "https" and host.endswith(_SLACK_FILE_HOSTS)

    async def _download(self, session: aiohttp.ClientSession, info: Mapping[str, Any]) -> Attachment:
        name, mime, url = self._check(info)
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            async with session.get(url, headers=headers) as resp:
                if resp.status != 200:
                    raise InputError(f"Slack answered {resp.status} when I downloaded {name}.")
                data = await _read_capped(resp, self._max_bytes, name)
                served = resp.headers.get("Content-Type", "")
        except aiohttp.ClientError as exc:
            raise InputError(f"I could not download {name} from Slack ({exc.__class__.__name__}).") from exc
        if _is_login_page(data, served, mime):
            raise InputError(MISSING_SCOPE.format(name=name))
        return Attachment(filename=name, data=data, mime=mime)


async def _read_capped(resp: aiohttp.ClientResponse, limit: int, name: str) -> bytes:
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        buf += chunk
        if len(buf) > limit:
            raise InputError(f"{name} is larger than {_mb(limit)}.")
    return bytes(buf)


def _is_login_page(data: bytes, served_type: str, claimed: str) -> bool:
    if claimed.startswith("text/html"):
        return False  # the user really shared an HTML file
    head = data[:512].lstrip().lower()
    return served_type.startswith("text/html") or head.startswith((b"<!doctype html", b"<html"))


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def recent_shared_files(messages: Iterable[Mapping[str, Any]], user: str,
                        now: float | None = None) -> list[Mapping[str, Any]]:
    """The files of the user's latest message with files in ``messages`` (newest first),
    if it is younger than ``RECENT_FILE_SECONDS``: what a slash command works on."""
    now = time.time() if now is None else now
    for msg in messages:
        if msg.get("user") != user or not msg.get("files"):
            continue
        try:
            age = now - float(msg.get("ts", "0"))
        except ValueError:
            continue
        return list(msg["files"]) if age <= RECENT_FILE_SECONDS else []
    return []
