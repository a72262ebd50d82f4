from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from orchestrator.errors import ConfigError


def test_env_overrides_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'llm_model = "from-file"\ntask_timeout = 12\n[slack]\nbot_token = "xoxb-file"\n'
        '[access]\ndeny_users = ["U1", "U2"]\n')
    s = load_settings({"HGBOT_HOME": str(tmp_path), "HGBOT_LLM_MODEL": "from-env", "HGBOT_ALLOW_CHANNELS": "C1, C2"})
    assert s.llm_model == "from-env" and s.task_timeout == 12.0
    assert s.slack_bot_token == "xoxb-file" and s.deny_users == ["U1", "U2"] and s.allow_channels == ["C1", "C2"]
    assert s.config_file == tmp_path / "config.toml" and s.db_path.parent == tmp_path


def test_no_endpoint_means_embedded_default(tmp_path: Path) -> None:
    assert not load_settings({"HGBOT_HOME": str(tmp_path)}).llm_configured
    assert load_settings({"HGBOT_HOME": str(tmp_path), "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}).llm_configured


@pytest.mark.parametrize(("content", "needle"), [
    ("task_timeout = 'soon'\n", "task_timeout"),
    ("no_such_setting = 1\n", "unknown setting"),
    ("this is = = not toml", "Cannot read"),
])
def test_bad_file_is_a_config_error(tmp_path: Path, content: str, needle: str) -> None:
    (tmp_path / "config.toml").write_text(content)
    with pytest.raises(ConfigError, match=needle):
        load_settings({"HGBOT_HOME": str(tmp_path)})


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"HGBOT_CONFIG": str(tmp_path / "nope.toml")})


def test_catalog_choice(tmp_path: Path) -> None:
    from bot.app import load_catalog

    offline = load_catalog(load_settings({"HGBOT_HOME": str(tmp_path)}))
    assert offline.cards and all(c.offline for c in offline.cards)
    hub = load_catalog(load_settings({"HGBOT_HOME": str(tmp_path), "OPENAI_API_KEY": "k"}))
    pairs = [(c.id, c.task) for c in hub.cards]
    assert len(pairs) == len(set(pairs)) and [c.rank for c in hub.cards] == list(range(len(hub.cards)))
    asr = hub.for_task("automatic-speech-recognition")
    assert not asr[0].offline and asr[-1].offline  # packaged models stay as the last fallbacks
    assert load_catalog(load_settings({"HGBOT_HOME": str(tmp_path), "OPENAI_API_KEY": "k",
                                       "HGBOT_CATALOG": "offline"})).cards == offline.cards
