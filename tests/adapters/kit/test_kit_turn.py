"""The turn's error boundary: our errors become their sentence, bugs a logged reference."""

from __future__ import annotations

import pytest

from adapters.kit.turn import Failure, guarded
from orchestrator.errors import InputError


async def test_an_answer_passes_through() -> None:
    async def work() -> str:
        return "fine"

    assert await guarded(work, where="k") == "fine"


async def test_an_hgbot_error_becomes_its_user_message() -> None:
    async def work() -> str:
        raise InputError("That file is empty.")

    failed = await guarded(work, where="k")
    assert isinstance(failed, Failure) and not failed.bug and "That file is empty." in failed.text


async def test_a_bug_is_logged_with_the_reference_the_user_gets(caplog: pytest.LogCaptureFixture) -> None:
    async def work() -> str:
        raise ZeroDivisionError

    failed = await guarded(work, where="k")
    assert isinstance(failed, Failure) and failed.bug and len(failed.ref) == 8
    assert any(failed.ref in r.getMessage() and r.exc_info for r in caplog.records)
