"""No credential reaches a chat answer, the database, the artifacts or a log line.

Secrets are planted everywhere the configuration takes one (URL userinfo, an ``?api-key=``
query, OPENAI_API_KEY, the Slack and Discord tokens), the LLM is made to fail in the two ways an
operator meets (nothing listening; a server whose 500 quotes the key back), and the real ``hgbot``
process is run. Every byte it printed or wrote is then searched for the secrets.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest

from tests.fakes.llm_server import FakeLLMServer, HttpError

SECRETS = {
    "user": "alice-u53r-SECRET",
    "password": "pa55-w0rd-SECRET",
    "query": "q-api-key-SECRET",
    "api_key": "sk-planted-api-key-SECRET",
    "slack": "xoxb-planted-slack-SECRET",
    "discord": "planted.discord.SECRET",
}

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def endpoint(host_port: str, query: bool = True) -> str:
    url = f"http://{SECRETS['user']}:{SECRETS['password']}@{host_port}/v1"
    return url + f"?api-key={SECRETS['query']}" if query else url


async def hgbot(home: Path, base_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "HGBOT_HOME": str(home), "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": SECRETS["api_key"],
           "SLACK_BOT_TOKEN": SECRETS["slack"], "DISCORD_TOKEN": SECRETS["discord"], "HGBOT_LLM_MAX_RETRIES": "0",
           "HGBOT_LLM_TIMEOUT": "5", "HGBOT_FAST_PATH": "0", "HGBOT_LOCAL_LLM": "none", "HGBOT_CATALOG": "offline"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


def leaks(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in text]


def files_under(home: Path) -> str:
    """Every file hgbot wrote (the SQLite database with its WAL, the artifacts), as text."""
    return "\n".join(p.read_bytes().decode("latin-1") for p in home.rglob("*") if p.is_file())


@pytest.mark.parametrize("flags", [("ask", "--json"), ("-v", "ask")], ids=["json", "verbose-text"])
async def test_an_unreachable_llm_leaks_no_secret(tmp_path: Path, flags: tuple[str, str]) -> None:
    home = tmp_path / "home"
    rc, out, err = await hgbot(home, endpoint(f"127.0.0.1:{free_port()}"), *flags, "hello there")
    assert "Cannot reach the LLM at http://***@127.0.0.1:" in out + err, out + err  # said, but redacted
    assert rc != 0 or "Cannot reach" in out
    assert leaks(out) == [] and leaks(err) == [] and leaks(files_under(home)) == []
    assert (home / "hgbot.sqlite3").exists()


@pytest.mark.parametrize("flags", [("ask", "--json"), ("-v", "ask")], ids=["json", "verbose-text"])
async def test_a_server_error_quoting_the_key_leaks_no_secret(tmp_path: Path, fake_llm: FakeLLMServer,
                                                               flags: tuple[str, str]) -> None:
    quoted = f"Incorrect API key provided: {SECRETS['api_key']} for {endpoint('x')} ({SECRETS['password']})"
    fake_llm.script(*[HttpError(500, {"error": {"message": quoted}})] * 4)
    # no query here: the openai client appends its path after a query, so the request would miss the server
    base = endpoint(fake_llm.base_url.removeprefix("http://").removesuffix("/v1"), query=False)
    home = tmp_path / "home"
    rc, out, err = await hgbot(home, base, *flags, "hello there")
    assert fake_llm.requests, "the request never reached the scripted server"
    assert "returned HTTP 500" in out + err and "The LLM at http://***@127.0.0.1" in out + err, out + err
    assert leaks(out) == [] and leaks(err) == [] and leaks(files_under(home)) == []


async def test_doctor_shows_endpoints_redacted(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    base = endpoint(fake_llm.base_url.removeprefix("http://").removesuffix("/v1"))
    rc, out, err = await hgbot(tmp_path / "home", base, "doctor")
    assert "http://***@127.0.0.1" in out and "api-key=***" in out, out
    assert leaks(out) == [] and leaks(err) == []
