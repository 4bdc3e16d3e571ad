"""Shadow trading's bookkeeping: which pairs run, when they finish, what they report.

The accounts themselves are exercised end to end in ``tests/app/test_shadow_trading.py`` (a
twin challenger trades exactly as its twin, and production is untouched); here the pairs are
stand-ins that record what they are fed.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pytest

from quantum_trader.decision.shadow import (
    MIN_PAIRED_RETURNS,
    AccountFigures,
    PairFigures,
    ShadowPair,
    ShadowTrading,
    paired_sharpe_difference,
)

NOBODY = AccountFigures(0, 0.0, 0.0, 0.0, 1.0)


class FakePair:
    def __init__(self, line: str, version: int) -> None:
        self.line, self.version = line, version
        self.bars: list[tuple[str, int]] = []
        self.closed = False

    def on_bar(self, symbol: str, open_time: int, *_: float) -> None:
        self.bars.append((symbol, open_time))

    def close(self) -> None:
        self.closed = True

    def figures(self) -> PairFigures:
        return PairFigures(
            self.line, self.version, 0, len(self.bars), NOBODY, NOBODY, None, None, None
        )


def _trading() -> tuple[ShadowTrading, list[FakePair], list[PairFigures]]:
    built: list[FakePair] = []
    finished: list[PairFigures] = []

    def build(line: str, version: int, now: int) -> ShadowPair:
        built.append(FakePair(line, version))
        return cast(ShadowPair, built[-1])

    return ShadowTrading(build, lambda: 0, on_finished=finished.append), built, finished


def _bar(trading: ShadowTrading, open_time: int) -> None:
    trading.on_bar("BTCUSDT", open_time, open_time + 1, 1.0, 1.0, 1.0, 1.0, 1.0)


def test_a_pair_runs_while_its_challenger_does_and_a_canary_step_changes_nothing() -> None:
    trading, built, finished = _trading()
    _bar(trading, 0)  # no challenger: nothing is fed
    trading.on_challenger("xgb/BTCUSDT/h4", 7)
    _bar(trading, 1)
    assert trading.on_challenger("xgb/BTCUSDT/h4", 7) is None  # the same version again
    _bar(trading, 2)
    done = trading.on_challenger("xgb/BTCUSDT/h4", None)
    _bar(trading, 3)
    assert len(built) == 1 and built[0].bars == [("BTCUSDT", 1), ("BTCUSDT", 2)]
    assert built[0].closed and done is not None and done.candles == 2
    assert finished == [done] == trading.finished and not trading.active


def test_a_newer_challenger_finishes_the_older_pair_and_lines_run_side_by_side() -> None:
    trading, built, finished = _trading()
    trading.on_challenger("xgb/BTCUSDT/h4", 7)
    trading.on_challenger("lgbm/BTCUSDT/h4", 3)
    _bar(trading, 1)
    trading.on_challenger("xgb/BTCUSDT/h4", 8)  # retired, and a newer one came
    _bar(trading, 2)
    assert [(p.line, p.version, p.closed) for p in built] == [
        ("xgb/BTCUSDT/h4", 7, True),
        ("lgbm/BTCUSDT/h4", 3, False),
        ("xgb/BTCUSDT/h4", 8, False),
    ]
    assert [f.version for f in finished] == [7]
    assert sorted(f.version for f in trading.finish_all()) == [3, 8]
    assert not trading.active and all(p.closed for p in built)


def test_fast_forward_is_refused_while_a_pair_trades() -> None:
    trading, _, _ = _trading()
    assert trading.quiet_until("BTCUSDT", None, 5, 50) == 50  # type: ignore[arg-type]
    trading.on_challenger("xgb/BTCUSDT/h4", 1)
    assert trading.quiet_until("BTCUSDT", None, 5, 50) == 5  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="active pair"):
        trading.skip_bars("BTCUSDT", None, 5, 50)  # type: ignore[arg-type]


def test_the_paired_difference_needs_enough_candles_and_sees_a_better_account() -> None:
    rng = np.random.default_rng(0)
    market = rng.normal(0.0, 0.01, 400)
    better = market + 0.002
    assert paired_sharpe_difference(better[: MIN_PAIRED_RETURNS - 1], market[:47], 8760.0) is None
    found = paired_sharpe_difference(better, market, 8760.0)
    assert found is not None
    point, low, high = found
    assert low > 0 and low <= point <= high
    assert paired_sharpe_difference(market, market, 8760.0) == (0.0, 0.0, 0.0)
    worse = paired_sharpe_difference(market - 0.002, market, 8760.0)
    assert worse is not None and worse[2] < 0


def test_a_pair_added_by_the_caller_runs_until_the_end_and_reports_without_a_version() -> None:
    finished: list[PairFigures] = []
    trading = ShadowTrading(None, lambda: 0, on_finished=finished.append)
    pair = FakePair("selector:qlearning", 0)
    pair.version = None  # type: ignore[assignment]  # a challenger with no registry version
    trading.add(cast(ShadowPair, pair))
    with pytest.raises(ValueError, match="already has an active pair"):
        trading.add(cast(ShadowPair, FakePair("selector:qlearning", 0)))
    with pytest.raises(RuntimeError, match="without a builder"):
        trading.on_challenger("xgb/BTCUSDT/h4", 2)
    _bar(trading, 1)
    _bar(trading, 2)
    [done] = trading.finish_all()
    assert pair.closed and pair.bars == [("BTCUSDT", 1), ("BTCUSDT", 2)] and finished == [done]
    assert done.summary().startswith("selector:qlearning shadow trading over 2 candles")
    named = PairFigures("xgb/BTCUSDT/h4", 3, 0, 2, NOBODY, NOBODY, None, None, None)
    assert named.summary().startswith("xgb/BTCUSDT/h4 v3 shadow trading over 2 candles")
