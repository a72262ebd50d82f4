"""Backend registry: catalog ``backend`` name → the class that runs it, imported lazily.

Heavy libraries (torch, transformers, onnxruntime, ...) are imported only when a backend is
first used, so the CLI starts fast and a missing optional dependency affects only its models.
"""

from __future__ import annotations

import importlib

from ..errors import BackendUnavailable
from .base import Backend, Device, Inputs, LoadedModel

# name -> "module:Class" under orchestrator.backends
REGISTRY: dict[str, str] = {
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
}

_instances: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    """The backend instance for ``name``; raises BackendUnavailable when unknown or not installed."""
    if name in _instances:
        return _instances[name]
    spec = REGISTRY.get(name)
    if spec is None:
        raise BackendUnavailable(f"No backend called {name!r} (known: {', '.join(sorted(REGISTRY))}).")
    module_name, cls_name = spec.split(":")
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ImportError as exc:
        raise BackendUnavailable(f"The {name} backend cannot be imported: {exc}.",
                                 hint="Install the extra that provides it, e.g. pip install -e '.[offline]' in the hgbot checkout.") from exc
    backend: Backend = getattr(module, cls_name)()
    _instances[name] = backend
    return backend


def register_backend(name: str, backend: Backend) -> None:
    """Make ``backend`` available under ``name`` (plugins, and fakes in tests)."""
    _instances[name] = backend


__all__ = ["REGISTRY", "register_backend", "Backend", "Device", "Inputs", "LoadedModel", "get_backend"]
