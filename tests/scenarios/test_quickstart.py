"""The README's first command, exactly as written, on the embedded default with the hub blocked:
no API key, no GPU, no internet. The spoken answer is checked by transcribing it back."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

from orchestrator.backends import Device, get_backend
from orchestrator.catalog import Catalog
from orchestrator.types import TextOutput

ROOT = Path(__file__).resolve().parents[2]


def readme_ask_command() -> list[str]:
    """The ``hgbot ask …`` line of the README's quick start."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    line = next(ln.strip() for ln in quick.splitlines() if ln.strip().startswith("hgbot ask "))
    return shlex.split(line)[1:]


def quickstart_script_command() -> list[str]:
    script = (ROOT / "scripts" / "quickstart.sh").read_text(encoding="utf-8")
    line = next(ln.strip() for ln in script.splitlines() if ln.strip().startswith(".venv/bin/hgbot ask "))
    return shlex.split(line)[1:]


def test_readme_and_quickstart_script_run_the_same_request() -> None:
    assert readme_ask_command() == quickstart_script_command()


@pytest.mark.slow
async def test_readme_first_command_speaks_the_text_of_the_sample(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "HGBOT_"))}
    env.update({"HF_HUB_OFFLINE": "1", "HGBOT_HOME": str(tmp_path / "home")})
    args = readme_ask_command()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", *args, "--json", cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    data = json.loads(out)
    assert data["llm_calls"] == 0  # planned without any LLM
    assert [r["task"] for r in data["runs"]] == ["image-to-text", "text-to-speech"]
    assert all(r["status"] == "ok" for r in data["runs"])
    assert "quick brown fox" in data["runs"][0]["outputs"][0].lower()
    wav = Path(data["artifacts"][0]["path"])
    assert data["artifacts"][0]["kind"] == "audio" and wav.is_file()

    # Listen to the answer: Whisper tiny.en (packaged weights) transcribes the generated speech.
    card = next(c for c in Catalog.load(offline_default=True).cards if c.task == "automatic-speech-recognition")
    model = await asyncio.to_thread(get_backend(card.backend).load, card, Device())
    heard = await asyncio.to_thread(model.run, "automatic-speech-recognition", {"audio": wav})
    text = " ".join(o.text for o in heard if isinstance(o, TextOutput)).lower()
    assert re.search(r"quick brown fox", text), text
