"""Shared fixtures.

Tests that need PostgreSQL, Redis or the shared market data skip where those are absent, except
when ``QT_REQUIRE_SERVICES=1`` (set by ``.ci/run``): then a missing service fails the test, so CI
cannot go green by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from quantum_trader.adapters.sql.database import normalise_url, open_database

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def require_services() -> bool:
    return os.environ.get("QT_REQUIRE_SERVICES", "") in {"1", "true", "yes"}


def unavailable(what: str) -> None:
    """Skip, or fail when services are required (CI)."""
    if require_services():
        pytest.fail(f"{what} is not available but QT_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(f"{what} is not available")


def shared_data_dir() -> Path | None:
    env = os.environ.get("QT_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for path in candidates:
        if (path / "ohlcv").is_dir():
            return path.resolve()
    return None


def _is_setting(key: str) -> bool:
    return key.startswith(("QT_", "AI_ENGINE_", "ENABLE_")) or key.endswith("_ENABLED")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No Quantum Trader setting from the caller's environment leaks into the test.

    One default differs from a user's: the PPO agents (modules 13 and 16, ``QT_RL_AGENTS``)
    are off, because they train policies in a worker process (about a minute of each 10-day
    main job on these two cores). The tests about them, and the main job's every-module test,
    switch them on."""
    for key in list(os.environ):
        if _is_setting(key):
            monkeypatch.delenv(key)
    monkeypatch.setenv("QT_RL_AGENTS", "false")
    return monkeypatch


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared real market data (``QT_DATA_DIR`` or ``../shared/data``)."""
    path = shared_data_dir()
    if path is None:
        unavailable("shared market data (QT_DATA_DIR or ../shared/data)")
        raise AssertionError("unreachable")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("QT_TEST_POSTGRES_URL", DEFAULT_PG)
    try:
        engine = create_engine(normalise_url(url), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:
        unavailable(f"PostgreSQL at {url} ({type(exc).__name__})")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    url = os.environ.get("QT_TEST_REDIS_URL", DEFAULT_REDIS)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as exc:
        unavailable(f"Redis at {url} ({type(exc).__name__})")
    return url


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_database(f"sqlite:///{tmp_path / 'qt.sqlite'}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    """A migrated PostgreSQL engine in a fresh schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(postgres_url))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = open_database(postgres_url, schema=schema)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_engine(request: pytest.FixtureRequest) -> Engine:
    """Runs a storage test once on SQLite and once on PostgreSQL."""
    name = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    engine: Engine = request.getfixturevalue(name)
    return engine
