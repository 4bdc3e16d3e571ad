"""The SQL Q-table store on SQLite and PostgreSQL: round trip bit for bit, a save replaces the
scope's whole table, scopes are apart, a failed save leaves the previous table, and a table
changed behind the adapter's back is refused with an error naming the scope and the cell."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Engine, insert, text, update

from quantum_trader.adapters.sql.qtable_repository import SqlQTableRepository
from quantum_trader.adapters.sql.tables_agents import rl_qtable_cells
from quantum_trader.agents.qlearning import QLearningConfig, QLearningSelector
from quantum_trader.agents.qtable import CorruptQTableError, QCell, QTableSnapshot

SPACE = QLearningConfig().state.fingerprint()


def snapshot(scope: str, updates: int, cells: tuple[QCell, ...]) -> QTableSnapshot:
    return QTableSnapshot(
        scope, SPACE, updates, updates // 3, 10 * updates, 1_700_000_000_000 + updates, cells
    )


CELLS = (
    QCell("BULL|v0|c1|p+", "TrendFollowing", 0.1 + 0.2, 7),  # 0.30000000000000004
    QCell("BULL|v0|c1|p+", "Breakout", -1.2345678901234567e-05, 2),
    QCell("NONE|v2|c0|p-", "MeanReversion", 5e-324, 2**40),  # subnormal, 64-bit count
)


def test_a_table_comes_back_as_saved_and_a_save_replaces_it(db_engine: Engine) -> None:
    repo = SqlQTableRepository(db_engine)
    assert repo.load("run-1") is None
    first = snapshot("run-1", 2**40 + 11, CELLS)
    repo.save(first)
    back = repo.load("run-1")
    assert back is not None
    assert back == replace(first, cells=tuple(sorted(CELLS, key=lambda c: (c.state, c.action))))
    second = snapshot("run-1", 2**40 + 12, CELLS[:1])
    repo.save(second)
    assert repo.load("run-1") == second  # the dropped cells are gone
    repo.save(snapshot("other", 1, CELLS[1:2]))
    assert repo.load("run-1") == second and repo.scopes() == ["other", "run-1"]


def test_a_learners_table_survives_the_database(db_engine: Engine) -> None:
    repo = SqlQTableRepository(db_engine)
    sel = QLearningSelector(QLearningConfig(), seed=1, repository=repo, scope="s")
    for i in range(230):
        sel.update(f"SIDEWAYS|v{i % 3}|c{i % 2}|p0", ("Breakout", "MeanReversion")[i % 2], i / 1e4)
    sel.close(at=42)
    again = QLearningSelector(QLearningConfig(), seed=1, repository=repo, scope="s")
    assert again.restore() and again.table.cells() == sel.table.cells() and again.updates == 230
    assert again.snapshot(42) == sel.snapshot(42)


def test_a_save_that_fails_midway_leaves_the_previous_table(db_engine: Engine) -> None:
    repo = SqlQTableRepository(db_engine)
    good = snapshot("s", 5, CELLS)
    repo.save(good)
    twice = (*CELLS[:1], CELLS[0])  # the same cell twice: the insert fails after the delete
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        repo.save(snapshot("s", 6, twice))
    back = repo.load("s")
    assert back is not None and back.updates == 5 and len(back.cells) == 3


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("UPDATE rl_qtable_cells SET action = 'Scalping' WHERE visits = 7",
         r"stored Q-table 's', cell \('BULL\|v0\|c1\|p\+', 'Scalping'\): unknown strategy"),
        ("UPDATE rl_qtable_cells SET state = 'BULLISH|v0' WHERE visits = 7",
         r"cell \('BULLISH\|v0', 'TrendFollowing'\): 'BULLISH\|v0' is not a Q-learning state"),
        ("UPDATE rl_qtable_cells SET state = 'BULL|v9|c1|p+' WHERE visits = 7",
         "a bucket beyond the configured edges"),
        ("UPDATE rl_qtable_cells SET visits = 0 WHERE visits = 7", "visits=0"),
        ("DELETE FROM rl_qtable_cells WHERE visits = 7",
         "header counts 3 cells, the table holds 2"),
        ("UPDATE rl_qtables SET state_space = 'qstate/1 vol=0.5 conf=0.1 pnl=0'",
         "learnt in state space 'qstate/1 vol=0.5"),
        ("UPDATE rl_qtables SET updates = 2000000", r"impossible counters \(updates=2000000, trades="),
        ("UPDATE rl_qtables SET updates = 3, trades = 1", "count .* visits but only 3 updates"),
    ],
)  # fmt: skip
def test_a_tampered_table_is_refused_with_what_and_where(
    db_engine: Engine, tamper: str, message: str
) -> None:
    repo = SqlQTableRepository(db_engine)
    repo.save(snapshot("s", 2**41, CELLS))
    with db_engine.begin() as conn:
        conn.execute(text(tamper))
    sel = QLearningSelector(QLearningConfig(), seed=0, repository=repo, scope="s")
    with pytest.raises(CorruptQTableError, match=message):
        sel.restore()
    assert sel.updates == 0 and len(sel.table) == 0  # nothing half loaded


def test_a_non_finite_stored_value_is_refused(db_engine: Engine) -> None:
    repo = SqlQTableRepository(db_engine)
    repo.save(snapshot("s", 100, CELLS))
    with db_engine.begin() as conn:
        conn.execute(update(rl_qtable_cells).where(rl_qtable_cells.c.visits == 7)
                     .values(q=float("inf")))  # fmt: skip
    with pytest.raises(CorruptQTableError, match=r"'TrendFollowing'\): value inf"):
        repo.load("s")


def test_a_cell_without_its_header_cannot_be_stored(db_engine: Engine) -> None:
    with pytest.raises(Exception, match=r"(?i)foreign key"), db_engine.begin() as conn:
        conn.execute(insert(rl_qtable_cells).values(scope="ghost", state="BULL|v0|c0|p0",
                                                    action="Breakout", q=0.0, visits=1))  # fmt: skip
