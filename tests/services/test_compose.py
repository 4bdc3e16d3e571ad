"""docker-compose.yml and the Dockerfile describe the stack the CLI runs (no Docker daemon on
this machine or in CI, so the images are not built here): every role is a `quantum-trader
service <role>` the CLI knows, on the compose file's PostgreSQL, with settings the loader
accepts; nothing sets a setting that is refused at start."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from quantum_trader.app.cli.serve import CLI_COMMAND
from quantum_trader.app.cli.services import MARKET_DATA, ROLES, STREAM_ROLES, role_commands
from quantum_trader.config.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment with ``${NAME:?…}`` interpolations given a stand-in."""
    return {
        k: re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "a-stand-in-value-of-32-bytes-or-more-42", str(v))
        for k, v in service.get("environment", {}).items()
    }


def test_every_role_of_the_compose_file_is_a_service_role_of_the_cli() -> None:
    """The roles and their commands are those ``up --redis-url`` starts, on the file's Redis."""
    services = _compose()["services"]
    roles = {name: s for name, s in services.items() if "command" in s}
    assert sorted(roles) == sorted((MARKET_DATA, *ROLES))
    (redis_url,) = {s["command"][s["command"].index("--redis-url") + 1]
                    for s in roles.values() if "--redis-url" in s["command"]}  # fmt: skip
    redis_host = re.match(r"redis://([^:/]+):6379/0$", redis_url)
    assert redis_host is not None and services[redis_host.group(1)]["image"].startswith("redis:")
    started_by_up = {role.name: role.argv for role in role_commands(list(roles), redis_url)}
    for name, service in roles.items():
        assert tuple(service["command"]) == started_by_up[name][len(CLI_COMMAND) :]
        assert service["build"] == "." and service["depends_on"]["postgres"]
        if name in STREAM_ROLES:
            assert service["depends_on"][redis_host.group(1)]["condition"] == "service_healthy"
        env = _environment(service)
        host = re.match(r"postgresql://[^@]+@([^:/]+):5432/", env["QT_DATABASE_URL"])
        assert host is not None and host.group(1) in services  # the compose file's database
        assert "QT_REDIS_URL" not in env  # refused at start: the URL is the roles' option
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["quantum-trader"]' in dockerfile
    assert "requirements.lock" in dockerfile and "whl/cpu" in dockerfile


def test_the_compose_settings_are_accepted(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    api = _compose()["services"]["api"]
    clean_env.setenv("QT_HOME", str(tmp_path))
    for key, value in _environment(api).items():
        clean_env.setenv(key, value)
    settings = load_settings()
    assert settings.api_host == "0.0.0.0"  # inside its container, published on 127.0.0.1 only
    published = api["ports"][0]
    assert published == f"127.0.0.1:{settings.api_port}:{settings.api_port}"
