"""Backend registry: catalog ``backend`` name → the backend that runs it, imported lazily.

``BackendRegistry.default()`` holds the built-in backends plus every plugin installed under the
``hgbot.backends`` entry-point group (``name = "package.module:Class"``); the app builds one and
passes it where backends are looked up, and tests build their own (``register`` on it never leaks
into another test). Heavy libraries (torch, transformers, onnxruntime, ...) are imported only when
a backend is first used, so the CLI starts fast and a missing optional dependency affects only
its models.

Each backend declares the tasks it serves (``tasks``; empty: whatever its cards name) and
whether it loads one model per task (``per_task``) or one model for all its tasks.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import entry_points
from types import MappingProxyType

from ..errors import BackendUnavailable, HgbotError
from .base import Backend, Device, Inputs, LoadedModel

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "hgbot.backends"

_INSTALL_HINT = "Install the extra that provides it, e.g. pip install -e '.[offline]' in the hgbot checkout."

# name -> "module:Class" under orchestrator.backends
BUILTINS: Mapping[str, str] = MappingProxyType({
    "transformers": "transformers_backend:TransformersBackend",
    "diffusers": "diffusers_backend:DiffusersBackend",
    "rapidocr": "ocr:RapidOcrBackend",
    "faster-whisper": "whisper:FasterWhisperBackend",
    "hibari": "tts:HibariBackend",
    "nudenet": "vision:NudeNetBackend",
    "opencv-cascade": "vision:CascadeBackend",
    "sentence-transformers": "text:SentenceTransformersBackend",
    "onnx-minilm": "text:OnnxMiniLMBackend",
    "vader": "text:VaderBackend",
    "local-llm": "local_llm:LocalLLMBackend",
    "python": "python_backend:PythonBackend",
    "controlnet-aux": "annotators:AnnotatorBackend",
    "noisereduce": "audio_enhance:NoiseReduceBackend",
    "extractive": "extractive:ExtractiveBackend",
    "efficientnet-lite": "classify:EfficientNetLiteBackend",
    "image-describe": "describe:DescribeBackend",
})

Loader = Callable[[], Backend]


class BackendRegistry:
    """Named backends, each created on first ``get`` and kept (backends hold no request state)."""

    def __init__(self, loaders: Mapping[str, Loader] | None = None) -> None:
        self._loaders: dict[str, Loader] = dict(loaders or {})
        self._instances: dict[str, Backend] = {}
        self._lock = threading.Lock()  # ``get`` runs on the loop and in load threads

    @classmethod
    def builtin(cls) -> BackendRegistry:
        """Only the backends that ship with hgbot."""
        return cls({name: _builtin_loader(name, spec) for name, spec in BUILTINS.items()})

    @classmethod
    def default(cls) -> BackendRegistry:
        """The built-ins plus the ``hgbot.backends`` entry points (a plugin may replace a built-in)."""
        registry = cls.builtin()
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            registry._loaders[ep.name] = _plugin_loader(ep.name, ep.load)
        return registry

    def register(self, name: str, backend: Backend) -> None:
        """Serve ``name`` with ``backend`` (an instance) in this registry only."""
        with self._lock:
            self._instances[name] = backend
            self._loaders[name] = lambda: backend

    def names(self) -> list[str]:
        return sorted(self._loaders)

    def get(self, name: str) -> Backend:
        """The backend for ``name``; BackendUnavailable when unknown or not importable."""
        with self._lock:
            found = self._instances.get(name)
            if found is not None:
                return found
            loader = self._loaders.get(name)
        if loader is None:
            raise BackendUnavailable(f"No backend called {name!r} (known: {', '.join(self.names())}).")
        backend = loader()
        with self._lock:
            return self._instances.setdefault(name, backend)

    def problem(self, name: str) -> str | None:
        """None when ``name`` can run here, else a sentence saying why not (for the selector)."""
        try:
            return self.get(name).available()
        except HgbotError as exc:
            return exc.user_message()

    def serving(self, task: str) -> list[str]:
        """Loaded-or-loadable backends that declare ``task`` (those declaring no tasks are left out)."""
        out = []
        for name in self.names():
            try:
                if task in declared_tasks(self.get(name)):
                    out.append(name)
            except HgbotError:
                continue
        return out


def declared_tasks(backend: Backend) -> frozenset[str]:
    return frozenset(getattr(backend, "tasks", frozenset()))


def loads_per_task(backend: Backend) -> bool:
    return bool(getattr(backend, "per_task", False))


def _builtin_loader(name: str, spec: str) -> Loader:
    module_name, cls_name = spec.split(":")

    def load() -> Backend:
        try:
            module = importlib.import_module(f"{__name__}.{module_name}")
        except ImportError as exc:
            raise BackendUnavailable(f"The {name} backend cannot be imported: {exc}.", hint=_INSTALL_HINT) from exc
        backend: Backend = getattr(module, cls_name)()
        return backend

    return load


def _plugin_loader(name: str, load_entry: Callable[[], object]) -> Loader:
    def load() -> Backend:
        try:
            found = load_entry()
        except Exception as exc:  # a broken plugin must not take the built-ins down
            log.warning("backend plugin %s cannot be loaded", name, exc_info=True)
            raise BackendUnavailable(f"The {name} backend plugin cannot be loaded: {exc}.") from exc
        # a class (the usual entry point) or a ready instance
        backend: Backend = found() if isinstance(found, type) else found  # type: ignore[assignment]
        return backend

    return load


# The registry for callers that are not handed one (the app, CLI tools, ``twins``): built once,
# on first use. ``installed`` puts another on top for one block and always takes it off again.
_stack: list[BackendRegistry] = []


def default_registry() -> BackendRegistry:
    """The innermost ``installed`` registry, else the process's (built-ins + plugins)."""
    if not _stack:
        _stack.append(BackendRegistry.default())
    return _stack[-1]


@contextmanager
def installed(registry: BackendRegistry) -> Iterator[BackendRegistry]:
    """Make ``registry`` the default inside the block (tests: the ``backend_registry`` fixture)."""
    default_registry()  # the process default stays at the bottom
    _stack.append(registry)
    try:
        yield registry
    finally:
        _stack.remove(registry)


def get_backend(name: str) -> Backend:
    """``default_registry().get(name)``."""
    return default_registry().get(name)


__all__ = ["BUILTINS", "ENTRY_POINT_GROUP", "Backend", "BackendRegistry", "Device", "Inputs", "LoadedModel",
           "declared_tasks", "default_registry", "get_backend", "installed", "loads_per_task"]
