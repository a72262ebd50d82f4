"""The invite URL: the OAuth2 scopes and the permission bits hgbot actually uses."""

from __future__ import annotations

import discord

SCOPES: tuple[str, ...] = ("bot", "applications.commands")


def permissions() -> discord.Permissions:
    """Only what the adapter does: read the channel, open threads, write in them, attach files."""
    return discord.Permissions(
        view_channel=True,
        read_message_history=True,  # resolve the message a user replied to
        send_messages=True,
        send_messages_in_threads=True,
        create_public_threads=True,
        attach_files=True,
        embed_links=True,
    )


def invite_url(application_id: str) -> str:
    """The URL a server admin opens to add hgbot (scopes ``bot`` + ``applications.commands``)."""
    return discord.utils.oauth_url(application_id, permissions=permissions(), scopes=SCOPES)
