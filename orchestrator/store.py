"""The store interface the orchestrator sees. ``storage.SqliteStore`` implements it.

Artifacts resolve only inside their own conversation: ``get_artifact(conv, id)`` raises
``ArtifactNotFound`` for an id that exists but belongs elsewhere.
"""

from __future__ import annotations

from typing import Any, Protocol

from .types import Artifact, ConversationKey, Kind, Message


class Store(Protocol):
    async def conversation(self, key: ConversationKey) -> int:
        """The id of the conversation, created on first use."""
        ...

    async def find_conversation(self, key: ConversationKey) -> int | None:
        """The id of the conversation if it exists; never creates one (adapters ask "is this thread ours?")."""
        ...

    async def add_message(self, conversation_id: int, role: str, text: str, run_id: int | None = None) -> None: ...

    async def history(self, conversation_id: int, limit: int = 50) -> list[Message]:
        """Up to ``limit`` most recent messages, oldest first."""
        ...

    async def put_artifact(
        self, conversation_id: int, data: bytes, *, kind: Kind, mime: str, suffix: str,
        description: str = "", task: str | None = None, model: str | None = None,
        filename: str = "", run_id: int | None = None,
    ) -> Artifact:
        """Store bytes content-addressed under the blob dir and record them in this conversation."""
        ...

    async def get_artifact(self, conversation_id: int, artifact_id: str) -> Artifact: ...

    async def artifacts(self, conversation_id: int) -> list[Artifact]:
        """All artifacts of the conversation, newest first."""
        ...

    async def start_run(self, conversation_id: int, request_text: str) -> int: ...

    async def finish_run(self, run_id: int, *, status: str, plan: list[dict[str, Any]] | None,
                         tasks: list[dict[str, Any]], error: str | None, seconds: float, llm_calls: int) -> None: ...

    async def claim_delivery(self, delivery_id: str) -> bool:
        """Record a platform delivery id; False when it was already recorded (process once)."""
        ...

    async def close(self) -> None: ...
