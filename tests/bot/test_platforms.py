"""The platform registry and the config sections it owns; the import rule between packages."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

from adapters.discord.config import DiscordConfig
from adapters.slack.config import SlackConfig
from bot.config import ENV, SECRETS, Settings, load_settings
from bot.platforms import PLATFORMS, platform
from bot.serve import platforms
from orchestrator.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_each_platform_owns_its_section_from_the_file_and_the_environment(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[slack]\nbot_token = "xoxb-file"\ncommand = "/ask"\n'
                                          '[discord]\ndms = false\n', encoding="utf-8")
    s = load_settings({"HGBOT_HOME": str(tmp_path), "DISCORD_TOKEN": "tok-env"})
    slack, discord = s.section(SlackConfig), s.section(DiscordConfig)
    assert (slack.bot_token, slack.command, slack.app_token) == ("xoxb-file", "/ask", "")
    assert (discord.token, discord.dms) == ("tok-env", False)
    assert not hasattr(s, "bot_token")  # no platform field is a core setting


def test_an_unknown_key_in_a_platform_table_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[discord]\ntokn = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="discord_tokn"):
        load_settings({"HGBOT_HOME": str(tmp_path)})


def test_registered_platforms_feed_the_env_names_and_the_secrets() -> None:
    for plat in PLATFORMS:
        for name, var in plat.config.env.items():
            assert ENV[f"{plat.name}_{name}"] == var
        assert {f"{plat.name}_{f}" for f in plat.config.secrets} <= SECRETS
    s = Settings(slack_bot_token="xoxb-secret", discord_token="dsecret")
    assert {"xoxb-secret", "dsecret"} <= set(s.secrets())


def test_serve_all_picks_the_configured_platforms_in_registry_order() -> None:
    args = argparse.Namespace(platform="all", http=True, port=0, host="127.0.0.1", invite_url=False)
    s = Settings(discord_token="t", slack_bot_token="xoxb-1", slack_signing_secret="sig")
    assert platforms(args, s) == [p.name for p in PLATFORMS]
    assert platforms(args, Settings(discord_token="t")) == ["discord"]
    with pytest.raises(ConfigError, match="No chat platform"):
        platforms(args, Settings())
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        platforms(argparse.Namespace(platform="slack", http=True, port=0, host="", invite_url=False),
                  Settings(slack_bot_token="xoxb-1"))
    assert platform("discord").config is DiscordConfig


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_nothing_under_adapters_imports_bot_and_the_orchestrator_imports_no_adapter() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "adapters").rglob("*.py") if "bot" in _imports(p)]
    assert not offenders
    upward = [str(p.relative_to(ROOT)) for p in (ROOT / "orchestrator").rglob("*.py")
              if _imports(p) & {"adapters", "bot"}]
    assert not upward
