"""The turn template's error boundary: whatever goes wrong while answering, the user gets a sentence.

Every adapter runs its work (download files, ``service.handle``) through ``guarded``: an
``HgbotError`` becomes its ``user_message()``; anything else is a bug, logged with its traceback
and a short reference the user can quote. The adapter then renders the ``Failure`` its own way.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from orchestrator.errors import HgbotError

T = TypeVar("T")
log = logging.getLogger("adapters.turn")


@dataclass(frozen=True)
class Failure:
    """Why a turn produced no answer: ``text`` for the user; ``ref`` set for a bug (it is in the log)."""

    text: str
    detail: str
    ref: str = ""

    @property
    def bug(self) -> bool:
        return bool(self.ref)


async def guarded(work: Callable[[], Awaitable[T]], *, where: object) -> T | Failure:
    """``await work()``, or the ``Failure`` it ended in. Never raises except ``CancelledError``."""
    try:
        return await work()
    except HgbotError as exc:
        return Failure(exc.user_message(), str(exc))
    except Exception:
        ref = uuid.uuid4().hex[:8]
        log.exception("a turn in %s failed (reference %s)", where, ref)
        return Failure("", "internal", ref)
