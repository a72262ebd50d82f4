"""The CLI's promises on every exit: bad input is exit 2, ``--json`` is always exactly one JSON object,
no tracebacks, and ``hgbot chat`` survives an unknown command and a Ctrl-C mid-turn."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.bot.test_cli import env_for, hgbot, photo
from tests.fakes.llm_server import FakeLLMServer

ROOT = Path(__file__).resolve().parents[2]
TTS = {"id": "fake/tts", "task": "text-to-speech", "backend": "python", "size": 0, "description": "never loaded"}


def one_json_object(out: str) -> dict[str, object]:
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    data = json.loads(lines[0])
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("make", ["empty", "missing", "broken-image"])
async def test_bad_attachment_exits_2_with_one_json_object(tmp_path: Path, make: str) -> None:
    path = tmp_path / "photo.png"
    if make == "empty":
        path.write_bytes(b"")
    elif make == "broken-image":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a picture" * 10)
    code, out, err = await hgbot("ask", "what is in this picture", "--attach", str(path), "--json",
                                 env=env_for(tmp_path, None))
    assert code == 2, err
    data = one_json_object(out)
    assert data["error"] and data["reply"] == data["error"] and data["runs"] == []
    assert "Traceback" not in err and path.name in err


async def test_missing_request_text_with_json_still_prints_one_object(tmp_path: Path) -> None:
    code, out, err = await hgbot("ask", "--json", env=env_for(tmp_path, None))
    assert code == 2 and "usage:" in err
    assert one_json_object(out)["error"]


async def test_a_non_utf8_argument_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    env = {**env_for(tmp_path, None), "LC_ALL": "C.UTF-8"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "ask", b"caf\xe9 \xff", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "not valid UTF-8" in lines[0] and not out


async def test_unrunnable_request_exits_1_with_the_honest_answer(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    fake_llm.script({"tasks": [{"id": 1, "task": "translation", "deps": [], "args": {"text": "good morning",
                                                                                     "context": "French"}}]})
    code, out, err = await hgbot("ask", "translate 'good morning' into French", "--json",
                                 env=env_for(tmp_path, fake_llm, [TTS]))
    assert code == 1, err
    data = one_json_object(out)
    assert str(data["reply"]).startswith("translation can't run here") and data["error"] == data["reply"]
    assert "catalog entry" in str(data["reply"]) and data["runs"] == []  # nothing ran
    assert data["plan"][0]["task"] == "translation"  # type: ignore[index]


async def test_a_good_request_still_exits_0(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    edit = {"id": "hgbot/image-edit", "task": "image-to-image", "backend": "python", "size": 0, "description": "x"}
    fake_llm.script(lambda req: {"tasks": [{"id": 1, "task": "image-to-image", "deps": [], "args": {
        "image": FakeLLMServer.handles(req)[0], "text": "grayscale"}}]}, "Done.")
    code, out, err = await hgbot("ask", "make it grayscale", "--attach", str(photo(tmp_path)), "--json",
                                 env=env_for(tmp_path, fake_llm, [edit]))
    assert code == 0, err
    assert one_json_object(out)["reply"] == "Done."


# --- hgbot chat ------------------------------------------------------------------------------------


async def start_chat(tmp_path: Path, llm: FakeLLMServer | None) -> asyncio.subprocess.Process:
    env = {**env_for(tmp_path, llm, [TTS]), "PYTHONUNBUFFERED": "1"}
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "chat", env=env, cwd=ROOT,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)


async def test_chat_refuses_an_unknown_command_with_the_list(tmp_path: Path) -> None:
    proc = await start_chat(tmp_path, None)
    out, err = await asyncio.wait_for(proc.communicate(b"/frobnicate now\n/quit\n"), timeout=60)
    assert proc.returncode == 0, err
    assert "Unknown command /frobnicate. Commands: /attach PATH, /files, /quit." in err.decode()


@pytest.mark.slow
async def test_ctrl_c_cancels_the_running_turn_and_keeps_the_session(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    fake_llm.delay = 4.0  # the first turn hangs on the LLM long enough to be interrupted
    proc = await start_chat(tmp_path, fake_llm)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(b"tell me something nice\n")
    await proc.stdin.drain()
    for _ in range(600):  # wait until the turn is in flight
        if fake_llm.requests:
            break
        await asyncio.sleep(0.05)
    assert fake_llm.requests, "the turn never reached the LLM"
    os.kill(proc.pid, signal.SIGINT)
    fake_llm.delay = 0.0
    await asyncio.sleep(4.5)  # the interrupted request's handler finishes its sleep first
    fake_llm.script({"tasks": []}, "Still here!")
    proc.stdin.write(b"are you still there?\n/quit\n")
    await proc.stdin.drain()
    proc.stdin.close()
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    assert "Cancelled. The conversation goes on." in err.decode()
    assert "Still here!" in out.decode() and "Traceback" not in err.decode()


async def test_a_link_the_orchestrator_refuses_is_bad_input_too(tmp_path: Path) -> None:
    # checked inside the pipeline (the SSRF guard), not by the CLI: still exit 2, still one object
    code, out, err = await hgbot("ask", "what is in https://127.0.0.1/cat.png", "--json", env=env_for(tmp_path, None))
    assert code == 2, err
    assert "not a public internet address" in str(one_json_object(out)["error"])
