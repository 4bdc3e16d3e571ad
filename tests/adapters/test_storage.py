from sqlalchemy import Engine, inspect

from quantum_trader.adapters.sql.database import migrate
from quantum_trader.adapters.sql.repositories import SqlStatusRepository
from quantum_trader.status import ModuleState, ModuleStatus


def test_schema_is_migrated_and_migration_is_idempotent(db_engine: Engine) -> None:
    tables = set(inspect(db_engine).get_table_names())
    assert {"policy_versions", "module_status", "runs", "alembic_version"} <= tables
    migrate(db_engine)  # a second start must not fail or duplicate anything
    assert set(inspect(db_engine).get_table_names()) == tables


def test_the_migrations_create_every_table_and_index_of_the_schema(db_engine: Engine) -> None:
    """The tables the code declares (``adapters/sql/all_tables.py``) are the ones the
    migrations create, with their indexes: a table declared without a migration is missing on
    every database opened by ``open_database``."""
    from quantum_trader.adapters.sql import all_tables  # noqa: F401 - registers every table
    from quantum_trader.adapters.sql.metadata import metadata

    found = inspect(db_engine)
    assert set(metadata.tables) <= set(found.get_table_names())
    for name, table in metadata.tables.items():
        declared = {index.name for index in table.indexes}
        assert declared <= {index["name"] for index in found.get_indexes(name)}, name


def test_status_snapshot_round_trip(db_engine: Engine) -> None:
    repo = SqlStatusRepository(db_engine)
    first = ModuleStatus("xgb", True, ModuleState.ACTIVE, "serving", "r1", 5, 6, {"predictions": 3})
    repo.save([first], at=10)
    second = ModuleStatus("nhits", False, ModuleState.DISABLED, "off", "r2", 7, None, {})
    repo.save([second], at=20)
    assert repo.load_all() == [second]  # a new snapshot replaces the previous run's


def test_sqlite_uses_wal(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert mode == "wal"
