"""hgbot's orchestrator: plan → select → execute → respond.

Adapters use the chat-service port (``ChatService`` in ``orchestrator.service``) and the types in
``orchestrator.types``.
"""

from .errors import HgbotError
from .service import ChatService, JobService
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
__all__ += ["ChatService", "JobService"]  # the chat-service port
