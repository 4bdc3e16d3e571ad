"""The trial ledger in SQL (``tables_trials.py``): implements ``evaluation.ledger.TrialLedger``.

Append and read only. There is no update or delete here, and the database refuses both
(the migration's triggers), so the ledger's count of trials can only grow.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, RowMapping, insert, select

from quantum_trader.adapters.sql.tables_trials import trials as trials_table
from quantum_trader.evaluation.ledger import KINDS, Trial


class SqlTrialLedger:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, trial: Trial) -> int:
        """Append ``trial`` in its own transaction; returns its id."""
        with self._engine.begin() as conn:
            result = conn.execute(insert(trials_table).values(**_row(trial)))
        (trial_id,) = result.inserted_primary_key or (None,)
        if trial_id is None:  # every supported dialect reports it; say so if one does not
            raise RuntimeError("the database did not return the recorded trial's id")
        return int(trial_id)

    def trials(self, kind: str | None = None, *, limit: int | None = None) -> list[Trial]:
        """Newest first; only those of ``kind`` when given; at most ``limit`` when given."""
        return [trial for _, trial in self.entries(kind, limit=limit)]

    def entries(
        self, kind: str | None = None, *, limit: int | None = None
    ) -> list[tuple[int, Trial]]:
        """:meth:`trials` with each one's id (what ``trials list`` shows), from one query."""
        stmt = select(trials_table).order_by(trials_table.c.id.desc())
        if kind is not None:
            if kind not in KINDS:
                raise ValueError(f"trial kind {kind!r}: not one of {', '.join(KINDS)}")
            stmt = stmt.where(trials_table.c.kind == kind)
        if limit is not None:
            if limit <= 0:
                raise ValueError(f"limit={limit}: must be > 0")
            stmt = stmt.limit(limit)
        with self._engine.connect() as conn:
            return [(int(r["id"]), _trial(r)) for r in conn.execute(stmt).mappings()]


def _row(trial: Trial) -> dict[str, Any]:
    return dict(
        kind=trial.kind,
        name=trial.name,
        config_hash=trial.config_hash,
        code_version=trial.code_version,
        symbols_json=json.dumps(list(trial.symbols)),
        timeframe=trial.timeframe,
        data_start=trial.data_start,
        data_end=trial.data_end,
        seed=trial.seed,
        # the Trial refused non-finite figures, so this is strict JSON
        metrics_json=json.dumps(dict(trial.metrics), sort_keys=True, allow_nan=False),
        sharpe=trial.sharpe,
        periods=trial.periods,
        recorded_at=trial.recorded_at,
        parent=trial.parent,
    )


def _trial(r: RowMapping) -> Trial:
    return Trial(
        kind=r["kind"],
        name=r["name"],
        config_hash=r["config_hash"],
        code_version=r["code_version"],
        symbols=tuple(json.loads(r["symbols_json"])),
        timeframe=r["timeframe"],
        data_start=int(r["data_start"]),
        data_end=int(r["data_end"]),
        seed=int(r["seed"]),
        metrics=json.loads(r["metrics_json"]),
        sharpe=None if r["sharpe"] is None else float(r["sharpe"]),
        periods=int(r["periods"]),
        recorded_at=int(r["recorded_at"]),
        parent=r["parent"],
    )
