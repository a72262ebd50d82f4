"""``hgbot plan`` (shows a plan, runs nothing) and ``hgbot eval chat`` (chat-style sets, predictions file)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "HGBOT_"))}
    env.update({"HGBOT_HOME": str(tmp / "home"), "HF_HUB_OFFLINE": "1", "HGBOT_DEVICE": "cpu",
                "HGBOT_LOCAL_LLM": "none", "HGBOT_CATALOG": "offline"})
    return env


async def _hgbot(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", *args, env=env, cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


def _runs(home: Path) -> int:
    db = home / "hgbot.sqlite3"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])


@pytest.mark.slow
async def test_plan_prints_the_plan_and_runs_nothing(tmp_path: Path) -> None:
    sign = tmp_path / "sign.png"
    Image.new("RGB", (32, 16), (255, 255, 255)).save(sign)
    env = _env(tmp_path)
    code, out, err = await _hgbot("plan", "read the text in this image out loud", "--attach", str(sign), "--json",
                                  env=env)
    assert code == 0, err
    view = json.loads(out)  # one JSON object
    assert [t["task"] for t in view["tasks"]] == ["image-to-text", "text-to-speech"]
    assert view["tasks"][1]["deps"] == [1] and view["tasks"][1]["args"] == {"text": "<GENERATED>-1"}
    assert "sign.png" in view["tasks"][0]["args"]["image"] and view["tasks"][0]["models"]
    assert view["planner"].startswith(("fast path", "embedded")) and view["unrunnable"] == []
    assert _runs(tmp_path / "home") == 0  # nothing ran, nothing was recorded
    assert not list((tmp_path / "home").glob("artifacts/**/*.png"))  # the attachment was not stored
    assert "models" not in {p.name for p in (tmp_path / "home").iterdir()}  # no model converted or loaded

    code, out, err = await _hgbot("plan", "say hello world out loud", env=env)
    assert code == 0 and "text-to-speech" in out and "'hello world'" in out, err

    code, out, err = await _hgbot("plan", "translate 'good morning' into French", "--json", env=env)
    assert code == 1 and json.loads(out)["unrunnable"] == ["translation"]
    assert "translation can't run here" in err

    code, out, err = await _hgbot("plan", "transcribe this", "--attach", str(tmp_path / "missing.wav"), env=env)
    assert code == 2 and "missing.wav" in err and "Traceback" not in err


@pytest.mark.slow
async def test_eval_reads_chat_records_and_writes_predictions(tmp_path: Path) -> None:
    rows = [
        {"id": "c1", "request": "transcribe this", "attachments": [{"name": "a.wav", "kind": "audio"}],
         "nodes": [{"id": 1, "task": "automatic-speech-recognition"}], "links": []},
        {"id": "c2", "request": "describe this image then say it out loud",
         "attachments": [{"name": "p.jpg", "kind": "image"}],
         "nodes": [{"id": 1, "task": "image-to-text"}, {"id": 2, "task": "text-to-speech"}], "links": [[1, 2]]},
        {"id": "c3", "request": "thanks!", "attachments": [], "nodes": [], "links": []},
    ]
    src = tmp_path / "set.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out_file = tmp_path / "pred.jsonl"
    code, out, err = await _hgbot("eval", "chat", str(src), "--planner", "embedded", "--predictions", str(out_file),
                                  env=_env(tmp_path))
    assert code == 0, err
    assert "plan-vs-chat" in out and "ms per plan" in out
    lines = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [p["id"] for p in lines] == ["c1", "c2", "c3"]
    assert lines[1] == {"id": "c2", "nodes": [{"id": 1, "task": "image-to-text"}, {"id": 2, "task": "text-to-speech"}],
                        "links": [[1, 2]]}
    assert lines[2]["nodes"] == []
