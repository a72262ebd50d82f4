"""The operator's first steps: one data home for the quickstart and every command, install lines
that work from the checkout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from bot.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_quickstart_uses_the_same_home_as_every_command(tmp_path: Path) -> None:
    """Run the real quickstart script with stand-ins for the set-up and for hgbot itself."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "quickstart.sh", tmp_path / "scripts" / "quickstart.sh")
    (tmp_path / "scripts" / "setup.sh").write_text("true\n")
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "hgbot").write_text('#!/bin/sh\necho "HGBOT_HOME=${HGBOT_HOME-unset}"\n')
    (venv_bin / "hgbot").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "HGBOT_HOME"}
    out = subprocess.run(["bash", "scripts/quickstart.sh"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True).stdout
    assert "HGBOT_HOME=unset" in out  # so hgbot falls back to the one default below


def test_the_default_home_is_the_documented_one() -> None:
    home = load_settings({}).home
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `HGBOT_HOME`"))
    documented = re.search(r"`(~/[^`]+)`", row)
    assert documented and Path(documented.group(1)).expanduser() in (home, Path.home() / ".local/share/hgbot")
    if os.uname().sysname == "Linux" and not os.environ.get("XDG_DATA_HOME"):
        assert home == Path(documented.group(1)).expanduser()


def test_install_lines_work_from_the_checkout() -> None:
    """hgbot is not on any package index: every ``pip install`` of it in the docs installs the checkout."""
    docs = [ROOT / "README.md", *sorted((ROOT / "adapters").glob("*/README.md"))]
    bad = [f"{doc.relative_to(ROOT)}: {line.strip()}" for doc in docs
           for line in doc.read_text(encoding="utf-8").splitlines()
           if re.search(r"pip install[^`\n]*['\"\s]hgbot(\[|['\"\s]|$)", line)]
    assert bad == []
