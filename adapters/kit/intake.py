"""Which attached files are worth downloading: one policy for every platform, deferring to ``media``.

The orchestrator's ``media.sniff`` decides from the bytes; this only keeps what it would surely
refuse (an archive, an executable) from being downloaded at all. A file passes when its claimed
type is one of media's kinds (image, audio, video, text), a document type media reports on
itself, unknown (``""``, ``application/octet-stream``: the bytes decide), or when its name has a
suffix media reads.
"""

from __future__ import annotations

import mimetypes
from pathlib import PurePosixPath

from orchestrator import media

KIND_PREFIXES = ("image/", "audio/", "video/", "text/")  # media's kinds
UNKNOWN = frozenset({"", "application/octet-stream"})
DOCUMENTS = frozenset({
    "application/pdf", "application/json", "application/xml", "application/csv",
    "application/msword", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/ogg",
})


def claimed_mime(filename: str, claimed: str | None) -> str:
    """The claimed content type (without parameters, lower case), else a guess from the file name."""
    mime = (claimed or "").split(";")[0].strip().lower()
    return mime or (mimetypes.guess_type(filename)[0] or "application/octet-stream")


def accepts(mime: str, filename: str = "") -> bool:
    """Whether a file claimed to be ``mime`` (named ``filename``) should be downloaded for media to judge."""
    mime = mime.split(";")[0].strip().lower()
    if mime.startswith(KIND_PREFIXES) or mime in DOCUMENTS or mime in UNKNOWN:
        return True
    suffix = PurePosixPath(filename.lower()).suffix
    guessed = mimetypes.guess_type(filename)[0] or ""
    return suffix in media.TEXT_SUFFIXES or guessed.startswith(KIND_PREFIXES)
