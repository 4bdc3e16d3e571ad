"""A finished backtest as a trial of the ledger (``evaluation/ledger.py``).

``quantum-trader backtest`` (either strategy) and the main job's replay (``run``) record one
``backtest`` trial each into the home's database, so that ``trials list`` and the deflated
Sharpe ratio of a later evaluation count them. What is hashed as the configuration is what
decides the trades; the symbols, timeframe, data window and seed are recorded beside it, so
one configuration tried on several windows is still one configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from quantum_trader.app.code_version import code_version
from quantum_trader.config.settings import Settings
from quantum_trader.domain.time import from_datetime, timeframe_ms
from quantum_trader.engine.session import SessionResult
from quantum_trader.evaluation.ledger import (
    Trial,
    candle_returns,
    config_hash,
    per_candle_sharpe,
)

#: settings that do not decide a trade: where things are kept, how the run is logged or
#: reached, secrets, the replay's batching (its votes equal the streaming ones bit for bit),
#: and what the trial records beside the configuration (symbols, timeframe, seed, window)
NOT_CONFIGURATION = frozenset(
    {
        "home",
        "database_url",
        "data_dir",
        "store_dir",
        "artifacts_dir",
        "redis_url",
        "offline",
        "live",
        "venue",
        "live_max_order_notional",
        "live_max_daily_notional",
        "venue_requests_per_minute",
        "reconcile_minutes",
        "live_poll_seconds",
        "binance_api_key",
        "binance_api_secret",
        "log_format",
        "log_level",
        "replay_batch_votes",
        "symbols",
        "timeframe",
        "seed",
        "replay_days",
    }
)


def settings_config(settings: Settings) -> dict[str, Any]:
    """The decision path's configuration in ``settings``: every setting but those in
    :data:`NOT_CONFIGURATION`. A new setting is counted by default: hashing one too many
    makes two configurations of one (the DSR deflates a little more), one too few would make
    two configurations one (it would deflate too little)."""
    values = settings.model_dump(mode="json", exclude=set(NOT_CONFIGURATION))
    return {"strategy": "ai", **values}


def backtest_trial(
    result: SessionResult,
    *,
    name: str,
    config: Mapping[str, Any],
    symbols: Sequence[str],
    timeframe: str,
    seed: int,
    parent: str | None = None,
    recorded_at: int | None = None,
) -> Trial | None:
    """The trial of a finished session: its data window runs from the first replayed candle's
    open to the last one's close (the equity curve has a point at every close), its Sharpe
    ratio is per candle from that curve. None when the session replayed no candle."""
    times, equity = result.equity_times, result.equity_values
    if not times:
        return None
    return Trial(
        kind="backtest",
        name=name,
        config_hash=config_hash(config),
        code_version=code_version(),
        symbols=tuple(sorted(symbols)),
        timeframe=timeframe,
        data_start=times[0] - timeframe_ms(timeframe),
        data_end=times[-1],
        seed=seed,
        metrics=result.metrics.to_dict(),
        sharpe=per_candle_sharpe(equity),
        periods=len(candle_returns(equity)),
        recorded_at=recorded_at if recorded_at is not None else from_datetime(datetime.now(UTC)),
        parent=parent,
    )
