"""A fake sentence embedder for router/planner logic tests (the real one is MiniLM)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np


class WordEmbedder:
    """Bag-of-words vectors: similarity is word overlap. Fast and deterministic."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 512), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().replace("?", " ").replace(",", " ").split():
                out[i, zlib.crc32(word.encode()) % 512] += 1.0
            norm = np.linalg.norm(out[i])
            if norm:
                out[i] /= norm
        return out
