"""Keep credentials out of everything people and files see: chat answers, the database, logs.

An endpoint is shown as ``http://***@host/v1?api-key=***``: userinfo and the values of
query parameters are replaced, the scheme, host, port and path stay so the reader knows
which server is meant. ``Redactor`` also replaces the literal secrets of the configuration
wherever they appear (an error body that quotes the key back, a URL a library logs).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

MASK = "***"
# A URL inside free text: scheme, then anything up to whitespace or a closing quote/bracket, less
# the sentence's own punctuation after it ("cannot reach http://host/v1: check …").
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()\[\]{}]*[^\s'\"<>()\[\]{}.,:;!?]")
_SECRET_PARAM = re.compile(r"key|token|secret|pass|auth|sig|credential|session", re.IGNORECASE)
_MIN_SECRET = 6  # shorter values ("k", "none", "test") would blank ordinary words


def redact_url(url: str, *, every_query: bool = True) -> str:
    """``url`` with its userinfo and query values masked (only those named like a credential when
    ``every_query`` is False); anything unparsable is masked whole."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK
    if not parts.scheme or not parts.netloc:
        return url if "@" not in url and "?" not in url else MASK
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None:
        netloc += f":{port}"
    if "@" in parts.netloc:
        netloc = f"{MASK}@{netloc}"
    query = "&".join(_mask_param(p, every_query) for p in parts.query.split("&") if p)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _mask_param(param: str, every: bool) -> str:
    name, eq, _ = param.partition("=")
    if not eq:
        return MASK if every else param
    return f"{name}={MASK}" if every or _SECRET_PARAM.search(name) else param


def redact_urls(text: str) -> str:
    """Every URL found in ``text`` without userinfo or credential-like query values (an invite
    link's ``client_id`` stays readable, an ``api-key`` or ``token`` does not)."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0), every_query=False), text)


def url_secrets(url: str) -> list[str]:
    """The credentials a URL carries: userinfo and query values (masked by ``redact_url`` too,
    listed here so an error body or log line that quotes them alone is masked as well)."""
    try:
        parts = urlsplit(url)
        found = [parts.username, parts.password, *(v for _, v in parse_qsl(parts.query))]
    except ValueError:
        return []
    return [unquote(s) for s in found if s] + [s for s in found if s]


class Redactor:
    """Masks the configured secrets and URL credentials in any text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # longest first, so a secret that contains another is masked whole
        self.secrets = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = redact_urls(text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class RedactingFilter(logging.Filter):
    """A logging filter that formats each record once and masks secrets in the result, so a
    library that logs a request URL or an error body cannot write a credential to the log."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose args do not fit its format: leave it to the handler
            return True
        clean = self.redactor(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            # formatters print a cached exc_text instead of formatting exc_info again: cache it redacted
            # (exc_info itself stays, for handlers that inspect the exception)
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redactor(text)
        return True


def install_log_redaction(secrets: Iterable[str]) -> RedactingFilter:
    """Attach a ``RedactingFilter`` to every handler of the root logger (handlers, not loggers:
    records from child loggers skip their ancestors' filters but not the handlers')."""
    flt = RedactingFilter(Redactor(secrets))
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)  # one per handler, with the latest secrets
        handler.addFilter(flt)
    return flt
