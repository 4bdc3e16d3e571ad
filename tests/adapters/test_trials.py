"""The SQL trial ledger on SQLite and PostgreSQL: round trip, newest first, filters, and a
table the database itself keeps append-only (raw UPDATE, DELETE and TRUNCATE are refused)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from quantum_trader.adapters.sql.database import migrate
from quantum_trader.adapters.sql.tables_trials import trials as trials_table
from quantum_trader.adapters.sql.trials import SqlTrialLedger
from quantum_trader.domain.time import MS_PER_DAY
from quantum_trader.evaluation.ledger import Trial, config_hash

BASE = Trial(
    kind="backtest",
    name="sma_cross",
    config_hash=config_hash({"fast": 10, "slow": 30}),
    code_version="abc1234-dirty",
    symbols=("BTCUSDT", "ETHUSDT"),
    timeframe="1h",
    data_start=1_677_628_800_000,
    data_end=1_677_628_800_000 + 30 * MS_PER_DAY,
    seed=2**40 + 3,  # beyond 32 bits: the column is 64-bit
    metrics={"total_return": 0.0123456789012345, "trade_count": 12, "sortino": None},
    sharpe=0.0210987654321,
    periods=719,
    recorded_at=1_700_000_000_000,
    parent="bt-0123456789ab",
)


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(trials_table)).scalar_one())


def test_a_trial_comes_back_as_recorded(db_engine: Engine) -> None:
    ledger = SqlTrialLedger(db_engine)
    plain = replace(BASE, kind="evaluate", name="baseline:random", sharpe=None, parent=None)
    first, second = ledger.record(BASE), ledger.record(plain)
    assert second > first
    # newest first, every field equal (floats bit for bit, ints as ints, None kept)
    assert ledger.trials() == [plain, BASE]
    back = ledger.trials()[1]
    assert isinstance(back.metrics["trade_count"], int) and back.metrics["sortino"] is None
    assert ledger.entries() == [(second, plain), (first, BASE)]


def test_trials_filter_by_kind_and_limit(db_engine: Engine) -> None:
    ledger = SqlTrialLedger(db_engine)
    kinds = ["backtest", "evaluate", "backtest", "validation", "backtest"]
    for i, kind in enumerate(kinds):
        ledger.record(replace(BASE, kind=kind, recorded_at=BASE.recorded_at + i))
    backtests = ledger.trials("backtest")
    assert [t.recorded_at - BASE.recorded_at for t in backtests] == [4, 2, 0]
    assert [t.recorded_at - BASE.recorded_at for t in ledger.trials(limit=2)] == [4, 3]
    assert [t.kind for t in ledger.trials("validation", limit=5)] == ["validation"]
    with pytest.raises(ValueError, match="'paper': not one of evaluate, backtest, validation"):
        ledger.trials("paper")
    with pytest.raises(ValueError, match="limit=0"):
        ledger.trials(limit=0)


def test_the_ledger_offers_no_way_to_change_or_remove_a_trial() -> None:
    public = {name for name in dir(SqlTrialLedger) if not name.startswith("_")}
    assert public == {"record", "trials", "entries"}


@pytest.mark.parametrize(
    "statement",
    ["DELETE FROM trials", "DELETE FROM trials WHERE id = {id}", "UPDATE trials SET sharpe = 9.0"],
)
def test_the_database_refuses_to_change_or_delete_a_trial(
    db_engine: Engine, statement: str
) -> None:
    ledger = SqlTrialLedger(db_engine)
    trial_id = ledger.record(BASE)
    with pytest.raises(DBAPIError, match="trials is append-only"), db_engine.begin() as conn:
        conn.execute(text(statement.format(id=trial_id)))
    assert ledger.trials() == [BASE]
    ledger.record(BASE)  # appending still works after a refusal
    assert _count(db_engine) == 2


def test_postgresql_refuses_truncate(postgres_engine: Engine) -> None:
    SqlTrialLedger(postgres_engine).record(BASE)
    with pytest.raises(DBAPIError, match="TRUNCATE refused"), postgres_engine.begin() as conn:
        conn.execute(text("TRUNCATE trials"))
    assert _count(postgres_engine) == 1


def test_migrating_again_keeps_the_trials_and_the_guard(db_engine: Engine) -> None:
    SqlTrialLedger(db_engine).record(BASE)
    migrate(db_engine)
    assert SqlTrialLedger(db_engine).trials() == [BASE]
    with pytest.raises(DBAPIError, match="append-only"), db_engine.begin() as conn:
        conn.execute(text("DELETE FROM trials"))
