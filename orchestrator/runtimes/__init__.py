"""``ModelRuntime`` implementations; the Ray one (``ray.py``) is imported only when configured."""
