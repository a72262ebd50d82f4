"""``hgbot models pull`` and ``models check`` end to end, against a local stand-in for the hub.

The commands run as the user runs them (a subprocess of ``hgbot``) with the real huggingface_hub
client, HF_HUB_OFFLINE unset and HF_ENDPOINT pointing at ``tests/fakes/fake_hub.py``; the
repository served is a tiny twin saved by ``orchestrator.twin_builders``, so ``check`` loads real
files from the hub cache through the card's own backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.fake_hub import FakeHub

ROOT = Path(__file__).resolve().parents[2]
REPO = "tiny-org/tiny-qwen3"
BIG = "tiny-org/far-too-big"


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from orchestrator.twin_builders import build_twin

    d = build_twin("Qwen3ForCausalLM", tmp_path_factory.mktemp("twin") / "qwen3")
    (d / "twin.json").unlink()  # the twin's marker is no file of a hub repository
    (d / "README.md").write_text("# tiny-qwen3\n")
    (d / "onnx").mkdir()
    (d / "onnx" / "model.onnx").write_bytes(b"\0" * 4096)  # another framework's export: never pulled
    return d


@pytest.fixture
def fake_hub(twin: Path) -> Iterator[FakeHub]:
    with FakeHub() as hub:
        hub.add_dir(REPO, twin)
        # the API claims a petabyte: the disk check must refuse before a byte is fetched
        hub.add_repo(BIG, {"config.json": b"{}", "model.safetensors": b"\0" * 16},
                     claimed_sizes={"model.safetensors": 10**15})
        yield hub


def catalog(path: Path, hub: FakeHub) -> Path:
    cards = [
        {"id": REPO, "task": "text-generation", "backend": "transformers", "arch": "Qwen3ForCausalLM",
         "revision": hub.repos[REPO].commit, "license": "apache-2.0", "profile": "cpu", "size": 1,
         "options": {"max_new_tokens": 4}},
        {"id": BIG, "task": "text-generation", "backend": "transformers", "arch": "Qwen3ForCausalLM",
         "license": "apache-2.0", "profile": "gpu", "size": 10**15},
    ]
    path.write_text("".join(json.dumps(c) + "\n" for c in cards), encoding="utf-8")
    return path


def hgbot(tmp_path: Path, hub: FakeHub, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HGBOT_HOME": str(tmp_path / "home"), "HF_HOME": str(tmp_path / "hf"),
           "HF_ENDPOINT": hub.endpoint, "HGBOT_CATALOG": str(catalog(tmp_path / "catalog.jsonl", hub)),
           "PYTHONPATH": str(ROOT)}
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        env.pop(var, None)  # online, but only towards the stand-in
    return subprocess.run([sys.executable, "-m", "bot.cli", "models", *argv], capture_output=True, text=True,
                          env=env, timeout=120, cwd=ROOT)


def pulled_column(tmp_path: Path, hub: FakeHub) -> str:
    listed = hgbot(tmp_path, hub, "list", REPO)
    header = next(line for line in listed.stdout.splitlines() if "pulled" in line)
    row = next(line for line in listed.stdout.splitlines() if REPO in line)
    columns = [c.strip() for c in header.split("┃")]
    return [c.strip() for c in row.split("│")][columns.index("pulled")]


@pytest.mark.slow
def test_pull_downloads_at_the_pinned_revision_then_check_runs_it(tmp_path: Path, fake_hub: FakeHub) -> None:
    commit = fake_hub.repos[REPO].commit
    assert pulled_column(tmp_path, fake_hub) == "no"
    pulled = hgbot(tmp_path, fake_hub, "pull", REPO)
    assert pulled.returncode == 0, pulled.stderr
    first = pulled.stdout.splitlines()[0]
    served = {n: len(b.data) for n, b in fake_hub.repos[REPO].files.items() if not n.startswith("onnx/")}
    assert first.startswith("1 cards, 1 repositories, ") and " to download into " in first
    assert str(tmp_path / "hf" / "hub") in first
    assert f"{REPO}@{commit}: {len(served)} files" in pulled.stdout
    # the pinned commit is what was asked for, never a branch
    asked = [p for _, p in fake_hub.requests if REPO in p]
    assert asked and all(commit in p for p in asked), asked
    snapshot = tmp_path / "hf" / "hub" / "models--tiny-org--tiny-qwen3" / "snapshots" / commit
    assert {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()} == set(served)
    assert (snapshot / "model.safetensors").stat().st_size == served["model.safetensors"]
    assert fake_hub.gets("/cdn/blobs/"), "the weights came through the CDN redirect"

    before = len(fake_hub.gets())
    again = hgbot(tmp_path, fake_hub, "pull", REPO)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0].startswith("1 cards, 1 repositories, - to download")
    assert f"{REPO}@{commit}: already pulled" in again.stdout
    assert len(fake_hub.gets()) == before  # a second pull fetches nothing

    assert pulled_column(tmp_path, fake_hub) == "yes"  # pulled, at its pinned commit (no refs/main)

    checked = hgbot(tmp_path, fake_hub, "check", REPO)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    verdict = next(line for line in checked.stdout.splitlines() if line.startswith(REPO))
    assert "(real weights)" in verdict and " ok " in verdict
    assert "1 hub cards on 1 twin(s): 1 ok, 0 failed" in checked.stdout


@pytest.mark.slow
def test_pull_refuses_a_model_the_disk_cannot_hold(tmp_path: Path, fake_hub: FakeHub) -> None:
    refused = hgbot(tmp_path, fake_hub, "pull", BIG)
    assert refused.returncode == 1
    assert refused.stdout.splitlines()[0].startswith("1 cards, 1 repositories, 931322.6 GB to download")
    assert "not enough disk space" in refused.stderr
    assert fake_hub.gets() == []  # refused before any file was fetched
    # the sizes came from the hub's own metadata call
    assert ("GET", f"/api/models/{BIG}") in fake_hub.requests
