"""What an adapter is given (a ``Host``) and the one port it talks to (``ChatService``).

``bot.app.App`` is a host; so is any object with ``settings`` and either ``service`` or the
orchestrator, the store's delivery ledger and (optionally) ``jobs``, as tests build them. The
adapter reads its own config section and the shared limits from ``settings`` and does everything
else through ``service_of(host)``.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from orchestrator.errors import ConfigError
from orchestrator.service import ChatService, JobService, OrchestratorService

from .platform import PlatformConfig

C = TypeVar("C", bound=PlatformConfig)


class HostSettings(Protocol):
    """The settings an adapter reads: its section, the upload limit, the access lists."""

    @property
    def max_file_bytes(self) -> int: ...

    def section(self, kind: type[C]) -> C: ...


class Host(Protocol):
    @property
    def settings(self) -> HostSettings: ...


def service_of(host: Host) -> ChatService:
    """The host's chat service: its own, or one over its orchestrator, store and jobs."""
    own: ChatService | None = getattr(host, "service", None)
    if own is not None:
        return own
    h: Any = host
    return OrchestratorService(h.orchestrator, h.store, getattr(h, "jobs", None))



def needs_jobs(service: ChatService) -> JobService:
    """The service's jobs, for an adapter that only works with durable jobs (Slack acks before it works)."""
    if service.jobs is None:
        raise ConfigError("This chat adapter needs durable jobs, and the chat service has none.")
    return service.jobs
