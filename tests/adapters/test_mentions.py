"""Mass and group mentions are inert as text on both platforms, not only through the API flags.

The check below is independent of the code under test: it normalises what was posted the way a
client or a reader might (NFKC folds full-width forms, invisible characters are dropped) and then
looks for anything that a platform would turn into a ping.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

import pytest

from adapters.common import neutralize_mentions
from adapters.discord import render as discord_render
from adapters.slack import render as slack_render
from orchestrator.types import Reply

_FILLERS = "\u115f\u1160\u3164\uffa0"  # Hangul fillers: letters that render as nothing
_PING = re.compile(r"@(everyone|here|channel)|<!(everyone|here|channel|subteam)|<@&\d+>", re.IGNORECASE)


def pings(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text)
    visible = "".join(c for c in folded if unicodedata.category(c) not in ("Cf", "Mn") and c not in _FILLERS)
    return [m.group(0) for m in _PING.finditer(visible)]


WORDS = ["everyone", "here", "channel", "Everyone", "HERE"]
SIGILS = ["@", "\uff20", "\ufe6b", "@\u200b", "@\u200d", "@\u2060", "@\ufeff", "\uff20\u200c"]
SUFFIXES = ["", "_", "s", "123", "!"]
HOSTILE = [
    *(f"{s}{w}{x}" for s, w, x in itertools.islice(itertools.product(SIGILS, WORDS, SUFFIXES), 0, None, 4)),
    "_@here_", "@everyone_", "@everyones", "@everyone123", "hey @here, look", "(@channel)", "**@everyone**",
    "`@everyone`", "```\n@here\n```", "@ｅｖｅｒｙｏｎｅ", "＠ｈｅｒｅ", "@every\u200bone", "@e\u00adveryone",
    "<!channel>", "<!here>", "<!everyone>", "<!here|here>", "<!channel|@channel>", "<!subteam^S012ABC>",
    "<!subteam^S012ABC|@devs>", "ping <@&123456789012345678> now", "<@&1>", "email@here", "x@channel.y",
    "@@everyone", "@here@here@here", "\u202e@everyone", "@EVERYONE and @Here and @cHaNnEl",
]


def test_the_corpus_is_large_and_hostile() -> None:
    assert len(HOSTILE) >= 50
    assert all(pings(s) for s in HOSTILE), [s for s in HOSTILE if not pings(s)]


@pytest.mark.parametrize("text", HOSTILE)
def test_no_mention_survives_on_either_platform(text: str) -> None:
    assert pings(neutralize_mentions(text)) == []
    discord = discord_render.answer_chunks(Reply(text=f"answer: {text}"))
    assert discord and all(pings(chunk) == [] for chunk in discord)
    slack = slack_render.chunks(f"answer: {text}")
    assert slack and all(pings(chunk) == [] for chunk in slack)


@pytest.mark.parametrize("text", [
    "mail bob@example.com", "thanks @alice", "@everybody", "@her", "no mention here",
    "<@123456789> was mentioned", "cost: 5 @ 3 each",
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert neutralize_mentions(text) == text
