"""``ModelRuntime`` implementations: ``LocalRuntime`` (this process, the default).

A cluster runtime (``ray.py``: ``RayRuntime``) lives beside it, is imported only when
configured (``HGBOT_RUNTIME=ray``), and the executor never knows which.
"""

from __future__ import annotations

from .local import LocalRuntime

__all__ = ["LocalRuntime"]
