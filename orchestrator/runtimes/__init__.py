"""``ModelRuntime`` implementations: ``LocalRuntime`` (this process, the default).

A cluster runtime lives beside it and is chosen by configuration; the executor never knows which.
"""

from __future__ import annotations

from .local import LocalRuntime

__all__ = ["LocalRuntime"]
