"""``hgbot models pull/list/check``: file selection and sizes, refusals, and the list's columns."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot import commands, hub
from bot.config import Settings
from orchestrator.catalog import ModelCard
from orchestrator.errors import ConfigError

SDXL_FILES = {
    "model_index.json": 600, "sd_xl_turbo_1.0.safetensors": 13_900, "sd_xl_turbo_1.0_fp16.safetensors": 6_940,
    "unet/config.json": 2, "unet/diffusion_pytorch_model.safetensors": 10_000,
    "unet/diffusion_pytorch_model.fp16.safetensors": 5_000, "vae/config.json": 1,
    "vae/diffusion_pytorch_model.safetensors": 300, "vae/diffusion_pytorch_model.fp16.safetensors": 160,
    "text_encoder/model.safetensors": 400, "text_encoder/model.fp16.safetensors": 200,
    "text_encoder/model.onnx": 900, "tokenizer/vocab.json": 3, "README.md": 4,
}
BERT_FILES = {"config.json": 1, "model.safetensors": 400, "pytorch_model.bin": 420, "tf_model.h5": 500,
              "flax_model.msgpack": 500, "onnx/model.onnx": 300, "vocab.txt": 2}


def sdxl(variant: str = "fp16") -> ModelCard:
    return ModelCard(id="stabilityai/sdxl-turbo", task="text-to-image", backend="diffusers", variant=variant)


def test_variant_files_replace_full_precision_ones() -> None:
    chosen = hub.select_files(sdxl(), SDXL_FILES)
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in chosen
    assert "unet/diffusion_pytorch_model.safetensors" not in chosen
    assert "text_encoder/model.onnx" not in chosen
    assert not any(n.startswith("sd_xl_turbo") for n in chosen)  # the root checkpoint duplicates the folders
    assert sum(chosen.values()) == 600 + 2 + 5_000 + 1 + 160 + 200 + 3 + 4


def test_without_a_variant_the_full_precision_files() -> None:
    chosen = hub.select_files(sdxl(""), SDXL_FILES)
    assert "unet/diffusion_pytorch_model.safetensors" in chosen
    assert "unet/diffusion_pytorch_model.fp16.safetensors" not in chosen


def test_safetensors_instead_of_other_formats() -> None:
    card = ModelCard(id="dslim/bert-base-NER", task="token-classification", backend="transformers")
    assert hub.select_files(card, BERT_FILES) == {"config.json": 1, "model.safetensors": 400, "vocab.txt": 2}


class FakeHub:
    def __init__(self, repos: dict[str, dict[str, int]]) -> None:
        self.repos = repos
        self.calls: list[tuple[str, str | None]] = []
        self.downloads: list[tuple[str, str | None, list[str] | None]] = []

    def model_info(self, repo_id: str, *, revision: str | None = None, files_metadata: bool = False) -> Any:
        self.calls.append((repo_id, revision))
        return SimpleNamespace(siblings=[SimpleNamespace(rfilename=f, size=s) for f, s in self.repos[repo_id].items()])

    def snapshot_download(self, repo_id: str, *, revision: str | None = None,
                          allow_patterns: list[str] | None = None) -> str:
        self.downloads.append((repo_id, revision, allow_patterns))
        return "/nowhere"


def test_plan_counts_the_controlnet_and_a_shared_repository_once() -> None:
    fake = FakeHub({"sd": {"model_index.json": 1, "unet/diffusion_pytorch_model.safetensors": 100},
                    "cn/canny": {"config.json": 1, "diffusion_pytorch_model.safetensors": 50}})
    a = ModelCard(id="sd", task="canny-text-to-image", backend="diffusers", revision="abc123",
                  options={"controlnet": "cn/canny"})
    b = ModelCard(id="sd", task="depth-text-to-image", backend="diffusers", revision="abc123",
                  options={"controlnet": "cn/canny"})
    parts = hub.merge([*hub.plan_pull(a, fake), *hub.plan_pull(b, fake)])
    assert [(p.repo_id, p.revision, p.size) for p in parts] == [("sd", "abc123", 101), ("cn/canny", None, 51)]
    assert ("sd", "abc123") in fake.calls  # sizes are read at the pinned revision


def test_hub_offline_is_said_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "HF_HUB_OFFLINE=1" in (hub.unreachable() or "")


def test_no_network_is_said_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")  # nothing listens on the discard port
    assert (hub.unreachable(timeout=1.0) or "").startswith("no network: cannot reach 127.0.0.1")


def args(action: str, *ids: str, task: list[str] | None = None, profile: str | None = None,
         tiny: bool = False) -> argparse.Namespace:
    return argparse.Namespace(action=action, ids=list(ids), task=task or [], profile=profile, tiny=tiny)


def hub_settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(home=tmp_path, catalog="hub", **kw)


def test_pull_refuses_when_the_disk_cannot_hold_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeHub({"PekingU/rtdetr_v2_r18vd": {"config.json": 5, "model.safetensors": 80_000_000},
                    "PekingU/rtdetr_v2_r50vd": {"config.json": 5, "model.safetensors": 172_000_000}})
    monkeypatch.setattr(hub, "unreachable", lambda: None)
    monkeypatch.setattr(hub, "HuggingFaceHub", lambda: fake)
    monkeypatch.setattr(hub, "free_bytes", lambda path: 100_000_000)
    code = commands._models_pull(args("pull", task=["object-detection"]), hub_settings(tmp_path))
    out, err = capsys.readouterr()
    assert code == 1 and "2 cards, 2 repositories, 240.3 MB to download" in out
    assert "not enough disk space" in err and fake.downloads == []
    monkeypatch.setattr(hub, "free_bytes", lambda path: 10**12)
    assert commands._models_pull(args("pull", "PekingU/rtdetr_v2_r18vd"), hub_settings(tmp_path)) == 0
    assert fake.downloads == [("PekingU/rtdetr_v2_r18vd", None, ["config.json", "model.safetensors"])]


def test_pull_by_profile_takes_only_those_cards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeHub({"PekingU/rtdetr_v2_r18vd": {"model.safetensors": 1}})
    monkeypatch.setattr(hub, "unreachable", lambda: None)
    monkeypatch.setattr(hub, "HuggingFaceHub", lambda: fake)
    monkeypatch.setattr(hub, "free_bytes", lambda path: 10**12)
    assert commands._models_pull(args("pull", task=["object-detection"], profile="cpu"), hub_settings(tmp_path)) == 0
    assert [d[0] for d in fake.downloads] == ["PekingU/rtdetr_v2_r18vd"]


def test_unknown_task_and_a_task_without_models_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Unknown task 'make-tea'"):
        commands._selected_cards(args("list", task=["make-tea"]), hub_settings(tmp_path))
    only_ocr = tmp_path / "ocr.jsonl"
    only_ocr.write_text('{"id": "rapidocr/PP-OCRv6-small", "task": "image-to-text", "backend": "rapidocr"}\n')
    with pytest.raises(ConfigError, match="No model in the catalog can run 'audio-to-audio'"):
        commands._selected_cards(args("list", task=["audio-to-audio"]), Settings(home=tmp_path, catalog=str(only_ocr)))
    with pytest.raises(ConfigError, match="Not in the catalog: nobody/nothing"):
        commands._selected_cards(args("list", "nobody/nothing"), hub_settings(tmp_path))


def run_cli(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    full = {**os.environ, "HGBOT_HOME": str(tmp_path), "HGBOT_CATALOG": "hub", **env}
    return subprocess.run([sys.executable, "-m", "bot.cli", *argv], capture_output=True, text=True, env=full,
                          timeout=60, cwd=Path(__file__).resolve().parents[2])


def test_models_list_shows_profile_licence_and_pulled(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "models", "list", "--task", "text-to-image")
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[2].strip(): line for line in result.stdout.splitlines() if line.count("│") > 5}
    assert "needs a GPU" in rows["black-forest-labs/FLUX.1-schnell"]
    assert "sai-nc-community (NC)" in rows["stabilityai/sd-turbo"] and "│ cpu " in rows["stabilityai/sd-turbo"]
    assert "│ no " in rows["stabilityai/sd-turbo"]  # not pulled here


def test_models_list_shows_whole_ids_and_every_column(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "models", "list", "--task", "text-classification", "--task", "openpose-control")
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "┃" in line)
    assert [c.strip() for c in header.split("┃")[1:-1]] == [
        "task", "model", "backend", "profile", "size", "license", "pulled", "can run here"]
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in result.stdout.splitlines() if line.count("│") > 5]
    by_id = {r[1]: r for r in rows if r[1]}
    assert "distilbert/distilbert-base-uncased-finetuned-sst-2-english" in by_id  # not cut short
    assert by_id["distilbert/distilbert-base-uncased-finetuned-sst-2-english"][3:7] == ["cpu", "255.6 MB", "apache-2.0", "no"]
    assert by_id["lllyasviel/Annotators"][5] == "other (NC)"
    assert by_id["vaderSentiment/vader"][6] == "yes"  # packaged weights are always here


def test_licences_filter_shows_in_the_list(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "models", "list", "--task", "text-to-image", HGBOT_LICENSES="apache-2.0,mit")
    row = next(line for line in result.stdout.splitlines() if "sd-turbo" in line)
    assert "licence not in HGBOT_LICENSES" in row


def test_pull_and_check_say_offline_in_one_line(tmp_path: Path) -> None:
    pulled = run_cli(tmp_path, "models", "pull", "--task", "object-detection", HF_HUB_OFFLINE="1")
    assert pulled.returncode == 1 and pulled.stderr.strip().count("\n") == 0
    assert "HF_HUB_OFFLINE=1" in pulled.stderr
    checked = run_cli(tmp_path, "models", "check", "PekingU/rtdetr_v2_r18vd", HF_HUB_OFFLINE="1",
                      HF_HOME=str(tmp_path / "hf"))
    assert checked.returncode == 1
    assert "HF_HUB_OFFLINE=1" in checked.stderr and "none of the selected hub models is pulled" in checked.stderr


def test_pull_keeps_the_download_progress_bars(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    from bot.cli import main

    for var in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HGBOT_HOME", str(tmp_path))
    seen: dict[str, str] = {}

    async def fake_models(parsed: argparse.Namespace, settings: Settings) -> int:
        seen.update(os.environ)
        return 0

    monkeypatch.setattr(commands, "cmd_models", fake_models)
    assert main(["models", "pull", "PekingU/rtdetr_v2_r18vd"]) == 0
    assert "TQDM_DISABLE" not in seen and "HF_HUB_DISABLE_PROGRESS_BARS" not in seen


def fake_cache(root: Path, repo: str, files: list[str], *, ref: str = "main", commit: str = "c" * 40) -> None:
    """The hub cache's layout as huggingface_hub writes it: refs/<ref> -> snapshots/<commit>/<file>."""
    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    if ref != commit:
        (folder / "refs" / ref).write_text(commit)
    for name in files:
        path = folder / "snapshots" / commit / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")


def test_pulled_means_the_base_model_and_its_controlnet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    from bot.doctor import locally_available

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    card = ModelCard(id="org/sd15", task="canny-text-to-image", backend="diffusers",
                     options={"controlnet": "org/control-canny"})
    assert not locally_available(card)
    fake_cache(tmp_path, "org/sd15", ["model_index.json"])
    assert not locally_available(card)  # the ControlNet is not here yet
    fake_cache(tmp_path, "org/control-canny", ["config.json"])
    assert locally_available(card)
    pinned = ModelCard(id="org/pinned", task="text-generation", backend="transformers", revision="d" * 40)
    fake_cache(tmp_path, "org/pinned", ["config.json"], ref="d" * 40, commit="d" * 40)
    assert locally_available(pinned)  # found at its commit, with no refs/main
