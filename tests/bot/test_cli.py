"""The ``hgbot`` command as a user runs it: a real subprocess against a scripted LLM on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from PIL import Image

from tests.conftest import write_catalog
from tests.fakes.llm_server import FakeLLMServer

EDIT = {"id": "hgbot/image-edit", "task": "image-to-image", "backend": "python", "size": 0, "description": "Pillow edits"}


def env_for(tmp: Path, llm: FakeLLMServer | None, catalog: list[dict[str, Any]] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "HGBOT_"))}
    env.update({"HGBOT_HOME": str(tmp / "home"), "HF_HUB_OFFLINE": "1", "HGBOT_LLM_MAX_RETRIES": "0",
                "HGBOT_FAST_PATH": "0", "HGBOT_DEVICE": "cpu", "COLUMNS": "120"})
    if llm is not None:
        env.update({"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "k", "HGBOT_LLM_MODEL": "fake-model"})
    if catalog is not None:
        env["HGBOT_CATALOG"] = str(write_catalog(catalog, tmp / "catalog.jsonl"))
    return env


async def hgbot(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                cwd=Path(__file__).resolve().parents[2])
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


def photo(tmp: Path) -> Path:
    p = tmp / "photo.png"
    Image.new("RGB", (24, 16), (200, 30, 30)).save(p)
    return p


def edit_plan(req: dict[str, Any]) -> dict[str, Any]:
    handle = FakeLLMServer.handles(req)[0]
    return {"tasks": [{"id": 1, "task": "image-to-image", "deps": [], "args": {"image": handle, "text": "make it grayscale"}}]}


async def test_ask_json_is_one_object_with_the_contract(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    fake_llm.script(edit_plan, "Here is your grayscale photo.")
    code, out, err = await hgbot("ask", "make this grayscale", "--attach", str(photo(tmp_path)), "--json",
                                 env=env_for(tmp_path, fake_llm, [EDIT]))
    assert code == 0, err
    data = json.loads(out)  # exactly one JSON object on stdout
    assert set(data) >= {"reply", "plan", "runs", "artifacts", "llm_calls", "seconds"}
    assert data["reply"] == "Here is your grayscale photo." and data["llm_calls"] == 2
    run = data["runs"][0]
    assert run["status"] == "ok" and run["model"] == "hgbot/image-edit" and run["id"] == 1
    art = data["artifacts"][0]
    assert run["outputs"] == [art["handle"]] and art["kind"] == "image" and Path(art["path"]).is_absolute()
    img = Image.open(art["path"])
    assert img.mode in ("L", "LA") or len(set(img.convert("RGB").getpixel((0, 0)))) == 1


async def test_second_ask_in_the_same_channel_reuses_the_output(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    env = env_for(tmp_path, fake_llm, [EDIT])
    fake_llm.script(edit_plan, "Done.")
    code, out, _ = await hgbot("ask", "grayscale this", "-a", str(photo(tmp_path)), "--channel", "proj", "--json", env=env)
    first = json.loads(out)["artifacts"][0]["handle"]

    def flip_latest(req: dict[str, Any]) -> dict[str, Any]:
        handles = FakeLLMServer.handles(req)
        assert handles[0] == first  # newest first: the image just made
        return {"tasks": [{"id": 1, "task": "image-to-image", "deps": [], "args": {"image": handles[0], "text": "flip it"}}]}

    fake_llm.script(flip_latest, "Flipped.")
    code, out, err = await hgbot("ask", "now flip the image you just made", "--channel", "proj", "--json", env=env)
    assert code == 0, err
    assert json.loads(out)["runs"][0]["status"] == "ok"


async def test_two_processes_share_one_home(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    env = env_for(tmp_path, fake_llm, [EDIT])
    def plan_or_reply(req: dict[str, Any]) -> dict[str, Any] | str:  # the two processes interleave their calls
        return edit_plan(req) if req.get("response_format") else "ok"

    fake_llm.script(*[plan_or_reply] * 4)
    p = photo(tmp_path)
    results = await asyncio.gather(*(hgbot("ask", "grayscale", "-a", str(p), "--channel", f"c{i}", "--json", env=env)
                                     for i in range(2)))
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    handles = {json.loads(out)["artifacts"][0]["handle"] for _, out, _ in results}
    assert len(handles) == 2


async def test_bad_input_is_one_line_and_nonzero(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    env = env_for(tmp_path, fake_llm, [EDIT])
    code, out, err = await hgbot("ask", "hi", "--attach", str(tmp_path / "missing.png"), env=env)
    assert code == 2 and "no such file" in err and "Traceback" not in err and out == ""
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (2 * 1024 * 1024))
    code, _, err = await hgbot("ask", "hi", "--attach", str(big), env={**env, "HGBOT_MAX_FILE_MB": "1"})
    assert code == 2 and "limit is 1 MB" in err and "Traceback" not in err
    html = tmp_path / "page.png"
    html.write_text("<!DOCTYPE html><html><body>login</body></html>")
    code, _, err = await hgbot("ask", "what is this", "--attach", str(html), env=env)
    assert code == 2 and "web page" in err and "Traceback" not in err


async def test_unreachable_llm_exits_nonzero_with_a_hint(tmp_path: Path) -> None:
    env = env_for(tmp_path, None, [EDIT])
    env.update({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "k"})
    code, out, err = await hgbot("ask", "hello", env=env)
    assert code == 1 and "Cannot reach the LLM" in err and "OPENAI_BASE_URL" in err and "Traceback" not in err


async def test_cli_start_up_does_not_import_torch(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys, bot.cli, bot.app, orchestrator.pipeline; print('torch' in sys.modules)",
        stdout=asyncio.subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
    out, _ = await proc.communicate()
    assert out.decode().strip() == "False"



async def test_chat_session_attaches_and_keeps_one_conversation(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    env = env_for(tmp_path, fake_llm, [EDIT])
    fake_llm.script(edit_plan, "Grayscale done.", {"tasks": []}, "You sent one photo.")
    script = f"/attach {photo(tmp_path)}\nmake it grayscale\n/files\nwhat did I send?\n/quit\n"
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "chat", "--channel", "room", env=env,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
    out_b, err_b = await asyncio.wait_for(proc.communicate(script.encode()), timeout=120)
    out = out_b.decode()
    assert proc.returncode == 0, err_b.decode()
    assert "Grayscale done." in out and "You sent one photo." in out
    assert out.count("artifact:") >= 2  # /files lists the upload and the edited image
    second_plan = fake_llm.planning_requests()[1]["messages"][-1]["content"]
    assert "make it grayscale" in second_plan  # the second turn saw the first in its history
