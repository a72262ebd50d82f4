"""The tiny random-weight builders moved into the package (``orchestrator.tiny_models``) so that
``hgbot models check --tiny`` can build them on any install; tests keep importing them from here."""

from orchestrator.tiny_models import *  # noqa: F403
from orchestrator.tiny_models import (  # noqa: F401
    AUDIO_LABELS,
    BUILDERS,
    DETECTION_LABELS,
    IMAGE_LABELS,
    SEGMENT_LABELS,
    SHARED,
    TEXT_LABELS,
    build_all,
    write_tiny_catalog,
)
