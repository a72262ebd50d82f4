"""The chat-service port: ``OrchestratorService`` passes calls through to its parts."""

from __future__ import annotations

from typing import Any

from orchestrator.service import ChatService, OrchestratorService
from orchestrator.types import ConversationKey, Reply, Request
from tests.fakes.chat_service import FakeChatService, FakeJobs

KEY = ConversationKey("test", "t", "c", "1")


class _Ledger:
    def __init__(self) -> None:
        self.claimed: set[str] = set()

    async def claim_delivery(self, delivery_id: str) -> bool:
        new = delivery_id not in self.claimed
        self.claimed.add(delivery_id)
        return new

    async def find_conversation(self, key: ConversationKey) -> int | None:
        return 7 if key == KEY else None

    async def read_artifact(self, artifact: Any) -> bytes:
        return b"bytes of " + artifact.id.encode()


class _Handler:
    async def handle(self, request: Request, progress: Any = None) -> Reply:
        return Reply(text=request.text.upper())


async def test_the_orchestrator_service_answers_claims_once_and_finds_its_conversations() -> None:
    ledger = _Ledger()
    service: ChatService = OrchestratorService(_Handler(), ledger)
    assert (await service.handle(Request(conversation=KEY, text="hi"))).text == "HI"
    assert await service.claim_delivery("d1") and not await service.claim_delivery("d1")
    assert await service.find_conversation(KEY) == 7
    assert await service.find_conversation(ConversationKey("test", "t", "c", "2")) is None
    assert service.jobs is None and not await service.delivery_seen("d1")  # this ledger cannot look


async def test_with_jobs_a_delivery_is_seen_once_its_job_is_accepted() -> None:
    jobs = FakeJobs()
    service = OrchestratorService(_Handler(), _Ledger(), jobs)
    assert service.jobs is jobs
    record = await jobs.accept(KEY, user="u", text="x", delivery_id="d2")
    assert record is not None and await service.delivery_seen("d2")
    assert await jobs.accept(KEY, user="u", text="x", delivery_id="d2") is None


async def test_the_fake_service_is_a_chat_service() -> None:
    service: ChatService = FakeChatService()
    reply = await service.handle(Request(conversation=KEY, text="hello"))
    assert reply.text == "echo: hello" and await service.find_conversation(KEY) == 1
