"""Roles started at once (``quantum-trader up``) each migrate the same fresh database at start:
they must all succeed and leave the schema at head once, on SQLite and PostgreSQL alike.

The children import everything, say ``ready``, and block on stdin; the go line reaches them
within microseconds of each other, so their migrations overlap (``database.migrate`` then
serialises them). A process that waited for the lock finds the schema at head and does nothing.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

from quantum_trader.adapters.sql.database import (
    alembic_config,
    create_db_engine,
    migrate,
    normalise_url,
    open_database,
)
from quantum_trader.adapters.sql.migration_lock import (
    MigrationLockTimeout,
    postgres_advisory_lock,
)

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4

CHILD = """
import sys
from quantum_trader.adapters.sql.database import open_database

url, schema = sys.argv[1], (sys.argv[2] or None)
print("ready", flush=True)
sys.stdin.readline()
open_database(url, schema=schema).dispose()
print("migrated", flush=True)
"""


def _start_together(url: str, schema: str = "") -> list[tuple[int, str]]:
    """Run the child in PROCESSES processes, released at one moment; their codes and output."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, url, schema],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for _ in range(PROCESSES)
    ]
    for child in children:  # every child has imported everything and waits
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    return [(c.wait(timeout=120), c.communicate()[0]) for c in children]


def _assert_at_head_once(engine: Engine) -> None:
    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    with engine.connect() as conn:
        versions = [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]
    assert sorted(versions) == sorted(heads)  # each head once, no duplicate row
    assert {"runs", "trials", "event_outbox"} <= set(inspect(engine).get_table_names())


def _assert_all_migrated(results: list[tuple[int, str]]) -> None:
    failed = [out for code, out in results if code != 0 or not out.endswith("migrated\n")]
    assert failed == [], "\n---\n".join(out[-2000:] for out in failed)


def test_processes_migrating_a_fresh_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'home' / 'quantum_trader.sqlite'}"
    _assert_all_migrated(_start_together(url))
    engine = create_db_engine(url)
    _assert_at_head_once(engine)
    engine.dispose()


@pytest.fixture
def fresh_schema(postgres_url: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(postgres_url))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_processes_migrating_a_fresh_postgres_schema_at_once_all_succeed(
    postgres_url: str, fresh_schema: str
) -> None:
    _assert_all_migrated(_start_together(postgres_url, fresh_schema))
    engine = create_db_engine(postgres_url, schema=fresh_schema)
    _assert_at_head_once(engine)
    engine.dispose()


def test_a_held_migration_lock_is_reported_naming_the_database(tmp_path: Path) -> None:
    path = tmp_path / "quantum_trader.sqlite"
    engine = create_db_engine(f"sqlite:///{path}")
    with open(f"{path}.migrate.lock", "a") as held:  # another process migrating, stuck
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        with pytest.raises(MigrationLockTimeout, match=str(path)):
            migrate(engine, lock_timeout_s=0.3)
        assert time.monotonic() - started < 5
    engine.dispose()


def test_a_held_postgres_migration_lock_is_reported_naming_the_schema(
    postgres_url: str, fresh_schema: str
) -> None:
    engine = create_db_engine(postgres_url, schema=fresh_schema)
    with engine.begin() as holder:  # another process migrating the schema, stuck
        postgres_advisory_lock(holder, timeout_s=1)
        with pytest.raises(MigrationLockTimeout, match=fresh_schema):
            migrate(engine, lock_timeout_s=0.3)
    migrate(engine)  # released with the holder's transaction
    _assert_at_head_once(engine)
    engine.dispose()


def test_a_database_at_head_is_not_locked(tmp_path: Path) -> None:
    """The common start (nothing to migrate) neither waits for nor takes the lock."""
    path = tmp_path / "quantum_trader.sqlite"
    open_database(f"sqlite:///{path}").dispose()
    engine = create_db_engine(f"sqlite:///{path}")
    with open(f"{path}.migrate.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        migrate(engine, lock_timeout_s=0.3)  # would time out if it waited
    _assert_at_head_once(engine)
    engine.dispose()
