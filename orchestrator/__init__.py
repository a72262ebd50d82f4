"""hgbot's orchestrator: plan → select → execute → respond.

Adapters use ``Orchestrator.handle(request, progress)`` and the types in ``orchestrator.types``.
"""

from .errors import HgbotError
from .types import (
    Artifact,
    Attachment,
    ConversationKey,
    EventType,
    Plan,
    PlanTask,
    ProgressCallback,
    ProgressEvent,
    Reply,
    Request,
    RunStatus,
    TaskRun,
)

__all__ = [
    "Artifact", "Attachment", "ConversationKey", "EventType", "HgbotError", "Plan", "PlanTask",
    "ProgressCallback", "ProgressEvent", "Reply", "Request", "RunStatus", "TaskRun",
]
