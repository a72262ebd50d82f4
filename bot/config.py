"""Configuration: environment variables over a TOML file over defaults.

The file is ``$HGBOT_CONFIG`` or ``$HGBOT_HOME/config.toml``; its keys are the field names below
(``[access]`` / ``[llm]`` / ``[jobs]`` tables hold them without their prefix). Each chat platform
owns its section (``[slack]``, ``[discord]``: ``adapters/<name>/config.py``), declared in
``bot.platforms``. Every field also has an environment variable, listed in ``ENV``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from adapters.kit.platform import PlatformConfig
from orchestrator.errors import ConfigError

C = TypeVar("C", bound=PlatformConfig)


def _default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("hgbot", appauthor=False))


@dataclass
class _Core:
    """Settings every part shares; each chat platform's own live in its section (``sections``)."""

    home: Path = field(default_factory=_default_home)
    # LLM: any OpenAI-compatible endpoint. Without base_url and api_key hgbot runs the embedded default.
    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = 60.0
    llm_max_retries: int = 2
    local_llm: str = ""  # path, or "smollm2" for the bundled 135M model; unset or "none": no in-process chat LLM
    local_llm_plans: bool = False  # let the in-process LLM plan (schema-constrained), for a bigger local model
    catalog: str = ""  # HGBOT_CATALOG: replaces the built-in catalog
    licenses: list[str] = field(default_factory=list)  # HGBOT_LICENSES: only cards under these licences (empty: all)
    task_timeout: float = 300.0
    memory_budget_mb: int = 0  # 0: derive from the device (80% of GPU memory, or 50% of RAM)
    device: str = "auto"  # auto | cpu | cuda
    max_parallel: int = 4  # model steps in flight at once, across all requests
    device_concurrency: int = 0  # model calls running at once on the device; 0: max_parallel
    max_file_mb: int = 50
    max_audio_seconds: float = 600.0  # longer uploads are refused at intake
    history_tokens: int = 1500
    fast_path: bool = True
    fast_path_threshold: float = 0.0  # 0: the tuned default of the router
    # Access control (empty allow list: everyone)
    allow_users: list[str] = field(default_factory=list)
    deny_users: list[str] = field(default_factory=list)
    allow_channels: list[str] = field(default_factory=list)
    deny_channels: list[str] = field(default_factory=list)
    allow_roles: list[str] = field(default_factory=list)
    deny_roles: list[str] = field(default_factory=list)
    # Jobs: admins (may cancel anyone's job, no quota), the fair queue's caps, daily budgets, observability
    admins: list[str] = field(default_factory=list)
    max_jobs: int = 2  # jobs running at once in one process
    user_jobs: int = 1  # concurrent jobs of one user
    channel_jobs: int = 2  # concurrent jobs in one channel
    user_device_seconds: float = 0.0  # per UTC day; 0 = unlimited
    channel_device_seconds: float = 0.0
    job_sweep_s: float = 10.0  # hgbot serve: how often jobs of stopped processes (other hosts too) are taken over
    metrics_port: int = 0  # hgbot serve: Prometheus /metrics on this port; 0 = off
    metrics_host: str = "127.0.0.1"
    log_format: str = "text"  # text | json (one JSON line per log record, job events with their job id)
    # Several replicas: Postgres instead of SQLite, an S3 bucket instead of the local artifacts directory
    database_url: str = ""  # postgresql://user:pass@host/db
    blob_url: str = ""  # s3://bucket/prefix (endpoint: HGBOT_S3_ENDPOINT or AWS_ENDPOINT_URL)
    config_file: Path | None = None
    sections: dict[str, PlatformConfig] = field(default_factory=dict)  # by platform name

    @property
    def db_path(self) -> Path:
        return self.home / "hgbot.sqlite3"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "artifacts"

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url or self.llm_api_key)

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024

    def secrets(self) -> list[str]:
        """Every credential this configuration holds: tokens, keys, and what endpoint URLs carry
        (userinfo, query values). Nothing hgbot prints or stores may contain one of them."""
        from orchestrator.redact import url_secrets

        found = [str(getattr(self, name)) for name in SECRETS]
        for name in URLS:
            found += url_secrets(str(getattr(self, name)))
        return [s for s in found if s]


class Settings(_Core):
    """The core settings plus one section per registered platform (``bot.platforms``).

    ``Settings(slack_bot_token=...)`` and ``settings.slack_bot_token`` still work: a name made of a
    platform's name and one of its fields goes to (or comes from) that platform's section. Code
    reads sections typed, with ``settings.section(SlackConfig)``.
    """

    def __init__(self, sections: dict[str, PlatformConfig] | None = None, **values: Any) -> None:
        own = dict(sections or {})
        core: dict[str, Any] = {}
        per_platform: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            owner = _platform_field(key)
            if owner is None:
                core[key] = value
            else:
                per_platform.setdefault(owner[0].name, {})[owner[1]] = value
        for kind in _config_classes():
            given = per_platform.get(kind.name, {})
            current = own.get(kind.name)
            own[kind.name] = replace(current, **given) if current is not None else kind(**given)
        super().__init__(sections=own, **core)

    def section(self, kind: type[C]) -> C:
        """This platform's section (its defaults when the config says nothing about it)."""
        found = self.sections.get(kind.name)
        return found if isinstance(found, kind) else kind()

    if not TYPE_CHECKING:  # the flat names, for old callers; typed code uses section()

        def __getattr__(self, name: str) -> Any:
            owner = _platform_field(name) if not name.startswith("_") and name != "sections" else None
            if owner is None:
                raise AttributeError(name)
            return getattr(self.section(owner[0]), owner[1])


def _config_classes() -> list[type[PlatformConfig]]:
    from .platforms import PLATFORMS

    return [p.config for p in PLATFORMS]


def _platform_field(name: str) -> tuple[type[PlatformConfig], str] | None:
    """(section class, field) for a flat name such as ``slack_bot_token``; None for a core setting."""
    for kind in _config_classes():
        prefix = kind.name + "_"
        if name.startswith(prefix) and name[len(prefix):] in {f.name for f in fields(kind)}:
            return kind, name[len(prefix):]
    return None


def _platform_names() -> dict[str, tuple[str, str]]:
    """Every platform setting's flat name → (its field type, its environment variable)."""
    out: dict[str, tuple[str, str]] = {}
    for kind in _config_classes():
        for f in fields(kind):
            out[f"{kind.name}_{f.name}"] = (str(f.type), kind.env.get(f.name, ""))
    return out


ENV: dict[str, str] = {
    "home": "HGBOT_HOME",
    "database_url": "HGBOT_DATABASE_URL",
    "blob_url": "HGBOT_BLOB_URL",
    "llm_base_url": "OPENAI_BASE_URL",
    "llm_api_key": "OPENAI_API_KEY",
    "llm_model": "HGBOT_LLM_MODEL",
    "llm_timeout": "HGBOT_LLM_TIMEOUT",
    "llm_max_retries": "HGBOT_LLM_MAX_RETRIES",
    "local_llm": "HGBOT_LOCAL_LLM",
    "local_llm_plans": "HGBOT_LOCAL_LLM_PLANS",
    "catalog": "HGBOT_CATALOG",
    "licenses": "HGBOT_LICENSES",
    "task_timeout": "HGBOT_TASK_TIMEOUT",
    "memory_budget_mb": "HGBOT_MEMORY_BUDGET_MB",
    "device": "HGBOT_DEVICE",
    "max_parallel": "HGBOT_MAX_PARALLEL",
    "device_concurrency": "HGBOT_DEVICE_CONCURRENCY",
    "max_file_mb": "HGBOT_MAX_FILE_MB",
    "max_audio_seconds": "HGBOT_MAX_AUDIO_SECONDS",
    "history_tokens": "HGBOT_HISTORY_TOKENS",
    "fast_path": "HGBOT_FAST_PATH",
    "fast_path_threshold": "HGBOT_FAST_PATH_THRESHOLD",
    "allow_users": "HGBOT_ALLOW_USERS",
    "deny_users": "HGBOT_DENY_USERS",
    "allow_channels": "HGBOT_ALLOW_CHANNELS",
    "deny_channels": "HGBOT_DENY_CHANNELS",
    "allow_roles": "HGBOT_ALLOW_ROLES",
    "deny_roles": "HGBOT_DENY_ROLES",
    "admins": "HGBOT_ADMINS",
    "max_jobs": "HGBOT_MAX_JOBS",
    "user_jobs": "HGBOT_USER_JOBS",
    "channel_jobs": "HGBOT_CHANNEL_JOBS",
    "user_device_seconds": "HGBOT_USER_DEVICE_SECONDS",
    "channel_device_seconds": "HGBOT_CHANNEL_DEVICE_SECONDS",
    "job_sweep_s": "HGBOT_JOB_SWEEP_S",
    "metrics_port": "HGBOT_METRICS_PORT",
    "metrics_host": "HGBOT_METRICS_HOST",
    "log_format": "HGBOT_LOG_FORMAT",
}

# the platforms' variables after the core ones, before the shared access lists (doctor's order)
_at = list(ENV).index("allow_users")
ENV = dict(list(ENV.items())[:_at] + [(n, var) for n, (_, var) in _platform_names().items() if var]
           + list(ENV.items())[_at:])
_SECTIONS = {"access": "", "llm": "llm_", "jobs": ""} | {kind.name: kind.name + "_" for kind in _config_classes()}
SECRETS = {"llm_api_key"} | {f"{k.name}_{f}" for k in _config_classes() for f in k.secrets}
URLS = {"llm_base_url", "database_url", "blob_url"} | {f"{k.name}_{f}" for k in _config_classes() for f in k.urls}  # shown redacted


def _coerce(name: str, value: Any, kind: Any, origin: str) -> Any:
    try:
        if kind in ("Path", "Path | None", Path):
            return Path(str(value)).expanduser()
        if kind in ("bool", bool):
            if isinstance(value, bool):
                return value
            return str(value).strip().lower() in ("1", "true", "yes", "on")
        if kind in ("int", int):
            return int(value)
        if kind in ("float", float):
            return float(value)
        if str(kind).startswith("list"):
            if isinstance(value, list):
                return [str(v) for v in value]
            return [v.strip() for v in str(value).split(",") if v.strip()]
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{origin}: {name} must be {kind}, got {value!r}.") from exc


def load_settings(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from ``env`` (default ``os.environ``), the config file, and ``overrides``."""
    env = dict(os.environ if env is None else env)
    types: dict[str, Any] = {f.name: f.type for f in fields(Settings) if f.name != "sections"}
    types.update({name: kind for name, (kind, _) in _platform_names().items()})
    values: dict[str, Any] = {}
    home = Path(env["HGBOT_HOME"]).expanduser() if env.get("HGBOT_HOME") else _default_home()
    cfg_path = Path(env["HGBOT_CONFIG"]).expanduser() if env.get("HGBOT_CONFIG") else home / "config.toml"
    if env.get("HGBOT_CONFIG") and not cfg_path.exists():
        raise ConfigError(f"HGBOT_CONFIG points to {cfg_path}, which does not exist.")
    if cfg_path.exists():
        try:
            data = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"Cannot read the config file {cfg_path}: {exc}.") from exc
        flat: dict[str, Any] = {}
        for key, value in data.items():
            if key in _SECTIONS and isinstance(value, dict):
                for sub, v in value.items():
                    flat[_SECTIONS[key] + sub if not sub.startswith(_SECTIONS[key]) else sub] = v
            else:
                flat[key] = value
        for key, value in flat.items():
            if key not in types:
                raise ConfigError(f"{cfg_path}: unknown setting {key!r}.")
            values[key] = _coerce(key, value, types[key], str(cfg_path))
        values["config_file"] = cfg_path
    for name, var in ENV.items():
        if env.get(var, "") != "":
            values[name] = _coerce(name, env[var], types[name], var)
    values.setdefault("home", home)
    values.update(overrides)
    return Settings(**values)
