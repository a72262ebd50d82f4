"""The compose example, checked the way ``docker compose config`` would, without a Docker engine.

No engine runs in CI, so these tests catch what would break ``docker compose up`` or leave the bot
unable to start: a service named in a URL or ``depends_on`` that does not exist, a variable the
``.env`` example does not offer, a port published beyond this host, a bucket the bot could reach
before it exists, or a setting hgbot never reads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _env_example() -> set[str]:
    names = set()
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            names.add(line.split("=", 1)[0].strip())
    return names


def test_every_variable_the_file_reads_is_in_the_env_example() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    # ${NAME}, ${NAME:-default}, ${NAME:?message}; $$NAME is a literal for the container's shell.
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    assert used, "the compose file reads no variables: the pattern is wrong"
    assert used <= _env_example(), f"missing from deploy/.env.example: {sorted(used - _env_example())}"


def test_services_named_by_urls_and_depends_on_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = services["hgbot"]["environment"]
    hosts = {
        urlsplit(env["OPENAI_BASE_URL"]).hostname,
        urlsplit("ray://" + env["RAY_ADDRESS"]).hostname,
        urlsplit(env["HGBOT_DATABASE_URL"].replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}", "x")).hostname,
        urlsplit(env["AWS_ENDPOINT_URL"]).hostname,
    }
    assert hosts <= set(services), f"URLs name hosts that are no service: {sorted(hosts - set(services))}"
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on {needed}, which does not exist"


def test_the_bot_starts_only_once_its_bucket_exists(compose: dict[str, Any]) -> None:
    services = compose["services"]
    bucket = urlsplit(services["hgbot"]["environment"]["HGBOT_BLOB_URL"]).hostname
    creator = services["minio-bucket"]
    assert f"local/{bucket}" in " ".join(creator["entrypoint"])
    assert services["hgbot"]["depends_on"]["minio-bucket"] == {"condition": "service_completed_successfully"}


def test_ports_are_published_on_loopback_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this host"


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes", {}))
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


def test_the_bot_image_builds_from_the_cuda_dockerfile(compose: dict[str, Any]) -> None:
    build = compose["services"]["hgbot"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == ROOT / "Dockerfile.cuda"
    # The Ray head runs the same image, so its replicas have hgbot's backends installed.
    assert compose["services"]["ray-head"]["image"] == compose["services"]["hgbot"]["image"]


def test_hgbot_reads_every_hgbot_setting_the_file_sets(compose: dict[str, Any]) -> None:
    sources = "\n".join(p.read_text() for d in ("bot", "orchestrator", "storage") for p in (ROOT / d).rglob("*.py"))
    for key in compose["services"]["hgbot"]["environment"]:
        if key.startswith("HGBOT_"):
            assert f'"{key}"' in sources, f"{key} is set in compose.yaml but hgbot never reads it"
