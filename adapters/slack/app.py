"""Build the slack-bolt ``AsyncApp`` for a host (``adapters.kit.host``): Web API client, listeners, file fetcher."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.common import AccessPolicy
from adapters.kit.host import Host, service_of
from orchestrator.errors import ConfigError

from .config import SlackConfig
from .files import FileFetcher
from .jobs import CANCEL_ACTION, RETRY_ACTION, JobRunner
from .listeners import Listeners


def build_client(settings: SlackConfig) -> AsyncWebClient:
    """The Web API client: ``SLACK_API_URL`` as base URL when set, and retries for 429s
    (honouring ``Retry-After``), 500/503s and dropped connections."""
    if not settings.bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set.", hint="Copy the Bot User OAuth Token (xoxb-…) of the app.")
    base_url = settings.api_url.rstrip("/") + "/" if settings.api_url else AsyncWebClient.BASE_URL
    return AsyncWebClient(
        token=settings.bot_token,
        base_url=base_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_slack_app(app: Host, *, status_interval: float = 1.0) -> AsyncApp:
    """The bolt app answering the ``[slack]`` command, ``app_mention``, ``message`` and
    ``agent_session_stopped`` events.

    Signature verification is on when ``SLACK_SIGNING_SECRET`` is set (HTTP mode needs it;
    Socket Mode does not use it). Raises ``ConfigError`` without ``SLACK_BOT_TOKEN``.
    """
    return build_slack_parts(app, status_interval=status_interval)[0]


def build_slack_parts(app: Host, *, status_interval: float = 1.0) -> tuple[AsyncApp, Listeners]:
    """``build_slack_app`` plus its ``Listeners``, whose ``drain()`` waits for jobs in flight."""
    settings = app.settings.section(SlackConfig)
    service = service_of(app)
    client = build_client(settings)
    fetcher = FileFetcher(client, settings.bot_token, max_bytes=app.settings.max_file_bytes,
                          api_url=settings.api_url)
    runner = JobRunner(service, client, fetcher, status_interval=status_interval)
    command = settings.command if settings.command.startswith("/") else f"/{settings.command}"
    listeners = Listeners(runner, service, AccessPolicy.from_settings(app.settings), command, client=client)
    bolt = AsyncApp(
        name="hgbot",
        client=client,
        logger=_bolt_logger(),
        signing_secret=settings.signing_secret,
        request_verification_enabled=bool(settings.signing_secret),
        # the ack goes when the listener returns: after the job row is written, before the job runs
        # (listeners only record and start jobs, so that stays well inside Slack's 3 s)
        process_before_response=True,
    )
    bolt.command(command)(listeners.on_command)
    bolt.action(CANCEL_ACTION)(listeners.on_cancel_action)
    bolt.action(RETRY_ACTION)(listeners.on_retry_action)
    bolt.event("app_mention")(listeners.on_mention)
    bolt.event("message")(listeners.on_message)
    bolt.event("agent_session_stopped")(listeners.on_agent_stop)
    return bolt, listeners


def _bolt_logger() -> logging.Logger:
    """bolt's logger, without the warning it gives whenever ``SLACK_BOT_TOKEN`` is in the environment:
    we pass the client built from that same token on purpose."""
    logger = logging.getLogger("adapters.slack.bolt")
    if not any(isinstance(f, _SkipTokenWarning) for f in logger.filters):
        logger.addFilter(_SkipTokenWarning())
    return logger


class _SkipTokenWarning(logging.Filter):
    _text = warning_client_prioritized_and_token_skipped()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self._text
