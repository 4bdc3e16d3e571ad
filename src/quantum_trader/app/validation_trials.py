"""A validation of the gate (``learning/gate.py``) as a row of the trial ledger.

Every candidate the validation gate judges, passed or not, is a ``validation`` trial: named by
its line and version (``xgb/BTCUSDT/h4@v7``), its configuration hash the hash of what was
judged (line, version, artifact), its data window the held-out rows', its parent the run. Its
metrics are the gate's figures (``GateResult.figures``): both arms' log-loss, AUC, Brier, ECE,
accuracy and macro-F1, the Diebold–Mariano statistic and p-value, and where the trading check
was made both arms' net Sharpe, net return, profit factor, max drawdown, turnover, fees,
funding and trades, with the bootstrap interval of the Sharpe difference. Its Sharpe ratio is
the candidate's replay's, per candle (None when not replayed).

The deflated Sharpe ratio leaves validations out (``evaluation/ledger.py``, ``dsr_inputs``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from quantum_trader.app.code_version import code_version
from quantum_trader.domain.time import from_datetime
from quantum_trader.evaluation.ledger import Trial, config_hash
from quantum_trader.learning.gate import Validation


def validation_trial(
    validation: Validation, *, seed: int, parent: str | None, recorded_at: int | None = None
) -> Trial:
    """The trial of one validation (see the module docstring)."""
    version, result = validation.version, validation.result
    judged = {
        "line": str(version.key),
        "version": version.version,
        "artifact": version.artifact_hash,
    }
    replay = result.trading.candidate if result.trading is not None else None
    sharpe, periods = None, 0
    if replay is not None:
        periods = replay.periods
        per_candle = replay.sharpe / math.sqrt(replay.periods_per_year)
        sharpe = per_candle if math.isfinite(per_candle) and periods >= 2 else None
    return Trial(
        kind="validation",
        name=f"{version.key}@v{version.version}",
        config_hash=config_hash(judged),
        code_version=code_version(),
        symbols=(validation.symbol,),
        timeframe=validation.timeframe,
        data_start=validation.window[0],
        data_end=validation.window[1],
        seed=seed,
        metrics=result.figures(),
        sharpe=sharpe,
        periods=periods,
        recorded_at=recorded_at if recorded_at is not None else from_datetime(datetime.now(UTC)),
        parent=parent,
    )
