from __future__ import annotations

import logging

import pytest

from orchestrator.redact import RedactingFilter, Redactor, redact_url, redact_urls, url_secrets


@pytest.mark.parametrize("url, shown", [
    ("http://user:pass@gpu-host:8000/v1", "http://***@gpu-host:8000/v1"),
    ("https://token@example.com/v1", "https://***@example.com/v1"),
    ("https://example.com/v1?api-key=abc&x=1", "https://example.com/v1?api-key=***&x=***"),
    ("http://localhost:11434/v1", "http://localhost:11434/v1"),
    ("http://[::1]:8000/v1", "http://[::1]:8000/v1"),
    ("http://u:p@host:99999/v1", "***"),  # unparsable port: masked whole rather than guessed at
])
def test_urls_are_shown_without_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_urls_inside_text_and_literal_secrets_are_masked() -> None:
    text = "failed: POST http://bob:hunter22@h/v1/chat ('sk-live-123456' was refused) for hunter22"
    assert redact_urls(text) == "failed: POST http://***@h/v1/chat ('sk-live-123456' was refused) for hunter22"
    clean = Redactor(["sk-live-123456", *url_secrets("http://bob:hunter22@h/v1")])(text)
    assert "hunter22" not in clean and "sk-live" not in clean and "bob" not in clean


def test_punctuation_after_a_url_stays() -> None:
    assert redact_urls("cannot reach http://u:p@h/v1?api-key=k: check it.") == "cannot reach http://***@h/v1?api-key=***: check it."


def test_short_values_are_not_treated_as_secrets() -> None:
    assert Redactor(["k", "none"])("keep none of it") == "keep none of it"


def test_the_log_filter_masks_messages_args_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.redact")
    flt = RedactingFilter(Redactor(["xoxb-secret-token"]))
    caplog.handler.addFilter(flt)
    try:
        logger.warning("calling %s with %s", "http://u:p@h/v1", "xoxb-secret-token")
        try:
            raise ValueError("token xoxb-secret-token refused")
        except ValueError:
            logger.exception("failed")
    finally:
        caplog.handler.removeFilter(flt)
    assert "xoxb-secret-token" not in caplog.text and "u:p@" not in caplog.text
    assert "calling http://***@h/v1 with ***" in caplog.text and "ValueError: token *** refused" in caplog.text
    assert caplog.records[-1].exc_info is not None  # still there for handlers that look at the exception
