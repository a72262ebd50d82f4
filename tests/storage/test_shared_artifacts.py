"""Two hosts sharing Postgres + S3 (issue 9): a file sent through one replica (its own HGBOT_HOME)
is used by ``hgbot ask --channel`` on the other, whose home has never seen it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "orchestrator" / "data" / "samples" / "text.png"


def _ask(home: Path, env: dict[str, str], *args: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "ask", *args, "--channel", "team", "--json"],
                          capture_output=True, text=True, timeout=240, cwd=ROOT,
                          env={**env, "HGBOT_HOME": str(home)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, object] = json.loads(proc.stdout)
    return result


@pytest.mark.slow  # two CLI processes, each loading the planner and the OCR model
def test_an_artifact_made_on_one_host_is_used_on_another(tmp_path: Path, postgres_db: str, s3_env: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=s3_env).create_bucket(Bucket="team-files")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HGBOT_DATABASE_URL": postgres_db,
           "HGBOT_BLOB_URL": "s3://team-files/hgbot", "OPENAI_BASE_URL": "", "OPENAI_API_KEY": ""}
    host_a, host_b = tmp_path / "a", tmp_path / "b"

    first = _ask(host_a, env, "read the text in this image", "--attach", str(SAMPLE))
    handle = first["plan"][0]["args"]["image"]  # type: ignore[index]
    assert str(handle).startswith("artifact:"), first
    objects = boto3.client("s3", endpoint_url=s3_env).list_objects_v2(Bucket="team-files")["Contents"]
    assert any(o["Key"].startswith("hgbot/") and o["Key"].endswith(".png") for o in objects)
    assert not (host_b / "artifacts").exists()

    second = _ask(host_b, env, f"read the text in {handle}")
    runs = second["runs"]
    assert runs and runs[0]["task"] == "image-to-text" and runs[0]["status"] == "ok", second  # type: ignore[index]
    assert "quick brown fox" in str(first["reply"]) and second["reply"] == first["reply"], second
    # host B fetched the file from the bucket into its own cache
    assert [p.suffix for p in (host_b / "artifacts").rglob("*") if p.is_file()] == [".png"]
