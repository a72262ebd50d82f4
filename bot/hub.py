"""Downloading hub models for ``hgbot models pull``: which files, how big, whether they fit, and
whether the hub can be reached at all.

The hub is one I/O edge: ``HubApi`` is the two calls we make (``model_info`` for sizes,
``snapshot_download`` for files); tests pass a fake in its place.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from orchestrator.catalog import ModelCard

# Files a pipeline never reads: other frameworks' weights, ONNX/OpenVINO exports, original checkpoints.
_SKIP = ("*.onnx", "*.onnx_data", "onnx/*", "openvino/*", "*.msgpack", "*.h5", "flax_model*", "tf_model*",
         "*.ot", "*.ckpt", "*.gguf", "*.mlmodel*", "coreml/*", "*.tflite")
_WEIGHTS = (".safetensors", ".bin")


class HubApi(Protocol):
    def model_info(self, repo_id: str, *, revision: str | None = None, files_metadata: bool = False) -> Any: ...

    def snapshot_download(self, repo_id: str, *, revision: str | None = None,
                          allow_patterns: list[str] | None = None) -> str: ...


class HuggingFaceHub:
    """The real hub, through huggingface_hub (imported on first use)."""

    def model_info(self, repo_id: str, *, revision: str | None = None, files_metadata: bool = False) -> Any:
        from huggingface_hub import HfApi

        return HfApi().model_info(repo_id, revision=revision, files_metadata=files_metadata)

    def snapshot_download(self, repo_id: str, *, revision: str | None = None,
                          allow_patterns: list[str] | None = None) -> str:
        from huggingface_hub import snapshot_download

        # tqdm bars on stderr, one per file (the CLI leaves them on for pull)
        return str(snapshot_download(repo_id, revision=revision, allow_patterns=allow_patterns))


def unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be used from here, or None: ``HF_HUB_OFFLINE`` set, or no connection to
    the hub's host within ``timeout`` seconds (a lookup that hangs counts as none)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE=1 is set: the hub is off for this process (unset it to download)."
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    host = urlparse(endpoint).hostname or "huggingface.co"
    port = urlparse(endpoint).port or 443
    result: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(None)
        except OSError as exc:
            result.append(f"no network: cannot reach {host} ({exc.strerror or type(exc).__name__}).")

    # getaddrinfo ignores socket timeouts; a thread lets us give up on a resolver that hangs
    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return result[0] if result else f"no network: cannot reach {host} (no answer in {timeout:.0f} s)."


def select_files(card: ModelCard, files: dict[str, int]) -> dict[str, int]:
    """The files (name -> bytes) a pipeline loads for ``card``: no other-framework or ONNX weights,
    safetensors instead of .bin beside them, the card's ``variant`` (e.g. ``fp16``) instead of the
    full-precision file when the repository has both, and no single-file checkpoint at the root of a
    diffusers repository (its components are in sub-folders)."""
    keep = {f: s for f, s in files.items() if not any(fnmatch.fnmatch(f, p) for p in _SKIP)}
    diffusers_layout = "model_index.json" in keep
    by_dir: dict[str, list[str]] = {}
    for name in keep:
        by_dir.setdefault(os.path.dirname(name), []).append(name)
    chosen: dict[str, int] = {}
    for folder, names in by_dir.items():
        weights = [n for n in names if n.endswith(_WEIGHTS)]
        if diffusers_layout and folder == "":
            weights_here: list[str] = []  # the root checkpoint duplicates the sub-folders
        else:
            weights_here = _pick_weights(weights, card.variant)
        for n in names:
            if n not in weights or n in weights_here:
                chosen[n] = keep[n]
    return chosen


def _pick_weights(weights: list[str], variant: str) -> list[str]:
    def is_variant(name: str) -> bool:
        return f".{variant}." in os.path.basename(name) if variant else False

    if variant and any(is_variant(n) for n in weights):
        weights = [n for n in weights if is_variant(n)]
    elif variant:
        weights = [n for n in weights if not any(f".{v}." in n for v in ("fp16", "bf16"))]
    else:
        weights = [n for n in weights if not any(f".{v}." in os.path.basename(n) for v in ("fp16", "bf16"))]
    if any(n.endswith(".safetensors") for n in weights):
        weights = [n for n in weights if n.endswith(".safetensors") or n.endswith(".json")]
    return weights


@dataclass(frozen=True)
class RepoFiles:
    """The files (name -> bytes) to download from one repository at one revision."""

    repo_id: str
    revision: str | None
    files: dict[str, int]

    @property
    def size(self) -> int:
        return sum(self.files.values())


def _repo_files(hub: HubApi, card: ModelCard, repo_id: str, revision: str | None) -> RepoFiles:
    info = hub.model_info(repo_id, revision=revision, files_metadata=True)
    files = {s.rfilename: int(getattr(s, "size", 0) or 0) for s in (getattr(info, "siblings", None) or [])}
    single = card.options.get("file") if repo_id == card.id else None
    if single:  # one checkpoint out of a repository of many (lllyasviel/Annotators)
        return RepoFiles(repo_id, revision, {n: s for n, s in files.items() if n == single})
    return RepoFiles(repo_id, revision, select_files(card, files))


def plan_pull(card: ModelCard, hub: HubApi) -> list[RepoFiles]:
    """Ask the hub for the card's files (at its revision, plus its ControlNet's) and keep the ones
    the backend loads."""
    parts = [_repo_files(hub, card, card.id, card.revision or None)]
    controlnet = card.options.get("controlnet")
    if controlnet and not Path(str(controlnet)).exists():
        parts.append(_repo_files(hub, ModelCard(id=str(controlnet), task=card.task, backend=card.backend),
                                 str(controlnet), None))
    return parts


def missing(part: RepoFiles) -> RepoFiles:
    """The files of ``part`` not yet in the local hub cache at its revision (a pull downloads only
    these; when none is left the repository is already pulled)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return part
    left = {name: size for name, size in part.files.items()
            if not isinstance(try_to_load_from_cache(part.repo_id, name, revision=part.revision), str)}
    return RepoFiles(part.repo_id, part.revision, left)


def merge(parts: Iterable[RepoFiles]) -> list[RepoFiles]:
    """One entry per (repository, revision): cards sharing a repository download it once."""
    merged: dict[tuple[str, str | None], dict[str, int]] = {}
    for part in parts:
        merged.setdefault((part.repo_id, part.revision), {}).update(part.files)
    return [RepoFiles(repo, rev, files) for (repo, rev), files in merged.items()]


def cache_dir() -> Path:
    """Where the hub cache lives (HF_HUB_CACHE / HF_HOME respected)."""
    try:
        from huggingface_hub import constants

        return Path(constants.HF_HUB_CACHE)
    except ImportError:
        return Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"


def free_bytes(path: Path) -> int:
    """Free space on the disk that holds ``path`` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free
