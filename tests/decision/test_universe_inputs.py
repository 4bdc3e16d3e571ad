"""Under ``QT_FEATURES=universe`` the decision pipeline's symbols share one universe state, and
the feature rows it computes candle by candle are the rows the members were trained on
(``compute_universe_features``, as ``app/datasets.py`` builds them), on real data; the copies
``prepare_replay`` works on share one copy of that state and leave the live one alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.app.configs import feature_config
from quantum_trader.config import load_settings
from quantum_trader.decision.inputs import PipelineConfig, SymbolInputs
from quantum_trader.decision.pipeline import DecisionPipeline
from quantum_trader.domain.market import Candle, FundingRate
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.features.pipeline import FeatureConfig, FeatureMatrix, compute_universe_features
from quantum_trader.features.series import CandleSeries, FundingSeries
from tests.decision.warm_pipeline import warm_up_pipeline

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
START, END = 1_688_000_000_000, 1_693_400_000_000  # 1,500 hours of 2023, ETH funded
SPLIT = 1_000  # the hours warmed up before the fork


@pytest.fixture(scope="module")
def data(data_dir: Path) -> tuple[dict[str, CandleSeries], dict[str, FundingSeries | None]]:
    store = CandleStore(data_dir)
    candles = {s: store.series(s, "1h").between(START, END) for s in SYMBOLS}
    hours = candles["BTCUSDT"].open_time
    assert all(np.array_equal(c.open_time, hours) for c in candles.values())  # no gap here
    return candles, {s: store.funding_series(s) for s in SYMBOLS}


@pytest.fixture
def config(clean_env: pytest.MonkeyPatch) -> FeatureConfig:
    clean_env.setenv("QT_FEATURES", "universe")
    features = feature_config(load_settings())
    assert features.universe and features.extended
    return features


def _frame(series: CandleSeries, start: int, stop: int) -> pd.DataFrame:
    columns = ("open_time", "open", "high", "low", "close", "volume")
    return pd.DataFrame({c: getattr(series, c)[start:stop] for c in columns})


def _records(funding: FundingSeries | None) -> list[FundingRate]:
    if funding is None:
        return []
    return [
        FundingRate(funding.symbol, int(t), float(r))
        for t, r in zip(funding.time, funding.rate, strict=True)
    ]


def _pipeline(config: FeatureConfig, funding: dict[str, FundingSeries | None]) -> DecisionPipeline:
    return warm_up_pipeline(
        PipelineConfig("1h", features=config, shift_window=10_000),
        SYMBOLS,
        funding={s: _records(f) for s, f in funding.items()},
    )


def _complete(matrix: FeatureMatrix, start: int, stop: int) -> np.ndarray:
    rows = matrix.values[start:stop]
    return np.asarray(rows[~np.isnan(rows).any(axis=1)])


def _run_ahead(
    pipeline: DecisionPipeline, forks: dict[str, SymbolInputs], candles: dict[str, CandleSeries]
) -> dict[str, np.ndarray]:
    """The candles after SPLIT through the forks' inputs, hour by hour in the feed's order (BTC
    first), as :meth:`DecisionPipeline.prepare_replay` runs them; their complete rows."""
    rows: dict[str, list[np.ndarray]] = {s: [] for s in forks}
    market = pipeline._market_candle
    for i in range(SPLIT, len(candles["BTCUSDT"])):
        for symbol in SYMBOLS:
            series = candles[symbol]
            candle = Candle(
                symbol,
                "1h",
                int(series.open_time[i]),
                *(float(getattr(series, c)[i]) for c in ("open", "high", "low", "close", "volume")),
            )
            row = pipeline._inputs(forks[symbol], candle, candle.open_time + MS_PER_HOUR).features
            assert row is not None
            if not np.isnan(row).any():
                rows[symbol].append(row.copy())
    pipeline._market_candle = market
    return {s: np.vstack(r) for s, r in rows.items()}


def test_the_pipeline_rows_are_the_batch_rows(
    config: FeatureConfig, data: tuple[dict[str, CandleSeries], dict[str, FundingSeries | None]]
) -> None:
    candles, funding = data
    batch = compute_universe_features(candles, funding, candles["BTCUSDT"], config)
    pipeline = _pipeline(config, funding)
    try:
        frames = {s: _frame(c, 0, SPLIT) for s, c in candles.items()}
        assert pipeline.warm_up(frames) == SPLIT * len(SYMBOLS)
        live = pipeline._symbols
        universe = live["ETHUSDT"].features._universe
        assert universe is not None and live["SOLUSDT"].features._universe is universe
        # prepare_replay's copies: one shared copy of the universe, the live one untouched
        memo: dict[int, object] = {}
        forks = {s: state.fork_inputs(memo) for s, state in live.items()}
        copied = forks["ETHUSDT"].features._universe
        assert copied is not universe and forks["SOLUSDT"].features._universe is copied
        ahead = _run_ahead(pipeline, forks, candles)
        pipeline.warm_up({s: _frame(c, SPLIT, len(c)) for s, c in candles.items()})
        for symbol in SYMBOLS:
            want = _complete(batch[symbol], 0, len(candles[symbol]))
            assert len(want) > 1_000
            np.testing.assert_array_equal(np.vstack(live[symbol].rows), want, err_msg=symbol)
            np.testing.assert_array_equal(
                ahead[symbol], _complete(batch[symbol], SPLIT, len(candles[symbol]))
            )
            assert want[:, -1].all()  # xs_available: three symbols every hour
    finally:
        pipeline.close()


def test_the_strategies_read_the_batch_momentum_rank(
    config: FeatureConfig, data: tuple[dict[str, CandleSeries], dict[str, FundingSeries | None]]
) -> None:
    """The rank the cross-sectional strategy trades (``MarketState.momentum_rank``, through
    ``SymbolInputs.momentum_rank``) is the batch's ``xs_mom_rank`` of the same candle, in warm-up
    as in decisions (one definition: the universe state's values)."""
    candles, funding = data
    batch = compute_universe_features(candles, funding, candles["BTCUSDT"], config)
    column = batch["ETHUSDT"].names.index("xs_mom_rank")
    pipeline = _pipeline(config, funding)
    try:
        done = 0
        for stop in (20, 30, 400, 1_000, 1_499):
            pipeline.warm_up({s: _frame(c, done, stop) for s, c in candles.items()})
            done = stop
            t = int(candles["BTCUSDT"].open_time[stop - 1])
            for symbol in SYMBOLS:
                got = pipeline._symbols[symbol].momentum_rank(t)
                want = batch[symbol].values[stop - 1, column]
                if stop < 30:  # no 24-candle return yet: no cross-section to rank in
                    assert got is None, (symbol, stop)
                else:
                    assert got == want, (symbol, stop)
            ranks = sorted(pipeline._symbols[s].momentum_rank(t) or 0.0 for s in SYMBOLS)
            assert stop < 30 or ranks == [0.0, 0.5, 1.0]  # three symbols: ranks 0, ½, 1
    finally:
        pipeline.close()
