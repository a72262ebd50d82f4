"""Files both ways: download what users attach (type- and size-checked), decide what can be uploaded.

The orchestrator sniffs and size-checks bytes again; checking here first means an oversized or
unsupported file is never downloaded, and the user learns which file was skipped and why.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import discord

from adapters.kit import intake
from orchestrator.types import Artifact, Attachment

from .render import mib

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # Discord's limit where the guild has no boost (and in DMs)


@dataclass
class Downloads:
    attachments: list[Attachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # one line per skipped file, shown to the user


mime_of = intake.claimed_mime


async def download(files: Iterable[discord.Attachment], max_bytes: int) -> Downloads:
    """Fetch each acceptable file; skip (with a note) any that is too large, of another type, or unreadable."""
    out = Downloads()
    for file in files:
        mime = mime_of(file.filename, file.content_type)
        if not intake.accepts(mime, file.filename):
            out.notes.append(f"Skipped {file.filename}: {mime} files are not supported.")
            continue
        if file.size > max_bytes:
            out.notes.append(f"Skipped {file.filename}: {mib(file.size)} is over the {mib(max_bytes)} limit.")
            continue
        try:
            data = await file.read()
        except (discord.HTTPException, discord.NotFound) as exc:
            log.warning("download of %s failed: %s", file.url, exc)
            out.notes.append(f"Could not download {file.filename}; please attach it again.")
            continue
        if len(data) > max_bytes:  # the claimed size was wrong
            out.notes.append(f"Skipped {file.filename}: {mib(len(data))} is over the {mib(max_bytes)} limit.")
            continue
        out.attachments.append(Attachment(filename=file.filename, data=data, mime=mime))
    return out


def upload_limit(guild: discord.Guild | None) -> int:
    """The most bytes one message may carry here (the guild's boost level decides)."""
    return guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT


def partition(artifacts: Sequence[Artifact], limit: int) -> tuple[list[Artifact], list[Artifact]]:
    """(sendable, too large): nothing is dropped silently, the caller reports the second list."""
    fits = [a for a in artifacts if a.size <= limit]
    return fits, [a for a in artifacts if a.size > limit]
