"""``hgbot usage``: steps of ``hgbot ask`` are recorded and summed by model, user or channel."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bot.test_cli import EDIT, edit_plan, env_for, hgbot, photo
from tests.fakes.llm_server import FakeLLMServer


async def test_an_ask_is_recorded_and_usage_sums_it(tmp_path: Path, fake_llm: FakeLLMServer) -> None:
    env = env_for(tmp_path, fake_llm, [EDIT])
    fake_llm.script(edit_plan, "Done.")
    code, _, err = await hgbot("ask", "make this grayscale", "--attach", str(photo(tmp_path)), env=env)
    assert code == 0, err
    code, out, err = await hgbot("usage", "--by", "model", "--json", env=env)
    assert code == 0, err
    data = json.loads(out)
    [row] = data["rows"]
    assert row["model"] == "hgbot/image-edit" and row["steps"] == 1 and row["jobs"] == 1
    assert 0 < row["seconds"] < 10 and row["devices"] == "cpu"
    code, out, _ = await hgbot("usage", "--since", "1h", env=env)
    assert code == 0 and "cli" in out and "device s" in out  # the table, by user
    code, _, err = await hgbot("usage", "--since", "soon", env=env)
    assert code == 2 and "not a duration" in err
