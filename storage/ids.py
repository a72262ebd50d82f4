"""Identifiers every store shares, so a handle looks the same whichever database made it."""

from __future__ import annotations

import secrets

ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32: no i/l/o/u to misread
ID_LENGTH = 10  # 50 random bits: collisions are retried, and handles stay short in prompts
ROLES = ("user", "assistant")


def new_artifact_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))
