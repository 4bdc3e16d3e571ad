"""The validation gate's trading check: does the candidate trade worse than its champion?

A candidate that predicts better (the gate's log-loss test) may still trade worse: a model's
errors are not spread evenly over the moves that pay. So a candidate that passed the log-loss
test is replayed with the champion through the whole decision path on the same validation
window (a :class:`TradingScorer`; the app's replays the main job's engine session), and fails
if its trading is *significantly* worse:

* the per-candle returns of both equity curves over the same candles are resampled together
  (a paired circular block bootstrap, ``performance/significance.py``: the market they share
  cancels, autocorrelation within a block survives);
* the candidate fails only when the upper end of the one-sided ``1 - trading_alpha`` interval
  of its annualised Sharpe ratio minus the champion's is below 0.

Not worse "beyond noise" is the null: a candidate is never asked to prove it trades better
(two weeks of candles rarely could), only refused when its trades are clearly worse. Net
profit factor, drawdown, turnover, fees and funding of both are reported beside it, not
tested: the Sharpe difference is the one paired test, so the check's false-fail rate is its
level rather than the union of six.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from quantum_trader.domain.errors import DataError, LookAheadError
from quantum_trader.domain.time import fmt, timeframe_ms
from quantum_trader.features.dataset import Dataset
from quantum_trader.learning.registry import ModelVersion
from quantum_trader.performance.metrics import Performance
from quantum_trader.performance.significance import BootstrapInterval, block_bootstrap_difference

FloatArray = npt.NDArray[np.float64]
#: the trading figures of each arm a validation reports (``Performance`` field names)
REPORTED = ("sharpe", "net_return", "profit_factor", "max_drawdown", "turnover", "fees",
            "funding", "trades")  # fmt: skip


@dataclass(frozen=True, slots=True)
class TradingReplay:
    """One arm's replay of the validation window: the close time and return of each candle of
    its equity curve, and its figures (``Performance``: net of fees, slippage and funding)."""

    times: tuple[int, ...]
    returns: FloatArray
    performance: Performance


@dataclass(frozen=True, slots=True)
class TradingReplays:
    champion: TradingReplay
    candidate: TradingReplay
    seconds: float  # wall time of the replays (both arms)


class TradingScorer(Protocol):
    """Replays the candles opening in ``window`` = [start, end) twice through the whole decision
    path: every member as in production, and then with ``candidate`` serving its line in place
    of the line's PRODUCTION version. Raises :class:`TradingReplayError` when it cannot."""

    def __call__(self, candidate: ModelVersion, window: tuple[int, int]) -> TradingReplays: ...


class TradingReplayError(RuntimeError):
    """The scorer could not replay the window (what it needs is missing): the trading check is
    not made, and the candidate is judged on its log-loss alone, which the gate's reason says."""


@dataclass(frozen=True, slots=True)
class TradingVerdict:
    passed: bool
    champion: Performance | None
    candidate: Performance | None
    #: annualised Sharpe ratio, candidate minus champion, with its bootstrap interval (its
    #: ``high`` is the one-sided upper bound at the gate's level); None when not judged
    difference: BootstrapInterval | None
    seconds: float
    reason: str


def validation_window(validation: Dataset) -> tuple[int, int]:
    """[first row's open, last row's close) of the held-out rows: the candles replayed."""
    if len(validation) == 0:
        raise ValueError("validation window of no rows")
    step = timeframe_ms(validation.timeframe)
    return int(validation.open_time[0]), int(validation.open_time[-1]) + step


def check_unseen(
    candidate: ModelVersion, window: tuple[int, int], horizon: int, tf_ms: int
) -> None:
    """Refuse (LookAheadError) a candidate fitted on a row whose label is known only after the
    replay's first candle opens: it would trade candles it learned from. The daemon purges
    ``horizon`` rows before the held-out ones, so this holds by construction; it is checked
    here, where a replay would silently profit from a breach. Like every label, the row
    opening at ``t`` is known at ``t + (horizon + 1)·tf`` (``evaluation/folds.py``)."""
    fitted = candidate.lineage.window
    if fitted is None:
        raise LookAheadError(f"{candidate.key} v{candidate.version} records no training window")
    known = fitted[1] + (horizon + 1) * tf_ms
    if known > window[0]:
        raise LookAheadError(
            f"{candidate.key} v{candidate.version} was fitted on a row opening at "
            f"{fmt(fitted[1])} whose label is known at {fmt(known)}, after the validation "
            f"window opens ({fmt(window[0])})"
        )


def check_trading(
    replays: TradingReplays, *, alpha: float, samples: int = 2000, seed: int = 0
) -> TradingVerdict:
    """The verdict on two replays of the same candles (see the module docstring)."""
    champion, candidate = replays.champion, replays.candidate
    if champion.times != candidate.times:
        raise DataError(
            f"the trading replays cover other candles: {len(champion.times)} champion and "
            f"{len(candidate.times)} candidate returns"
        )
    figures = (champion.performance, candidate.performance)
    if len(champion.returns) < 2:
        reason = f"{len(champion.returns)} replayed returns: trading not judged"
        return TradingVerdict(True, *figures, None, replays.seconds, reason)
    interval = block_bootstrap_difference(
        candidate.returns,
        champion.returns,
        statistic="sharpe",
        periods_per_year=champion.performance.periods_per_year,
        samples=samples,
        seed=seed,
        confidence=1.0 - 2.0 * alpha,  # its upper end: the one-sided 1 - alpha bound
    )
    passed = not interval.high < 0.0
    reason = (
        f"trading over {len(champion.returns)} candles: Sharpe {_f(candidate.performance.sharpe)}"
        f" vs champion {_f(champion.performance.sharpe)}, difference {interval.point:+.2f} "
        f"(one-sided {1 - alpha:.0%} upper bound {interval.high:+.2f}): "
        f"{'not worse beyond noise' if passed else 'significantly worse'}"
    )
    return TradingVerdict(passed, *figures, interval, replays.seconds, reason)


def _f(value: float) -> str:
    return f"{value:+.2f}" if math.isfinite(value) else "n/a"


def not_judged(reason: str) -> TradingVerdict:
    """A check that could not be made (the scorer could not replay): it refuses nothing."""
    return TradingVerdict(True, None, None, None, 0.0, f"trading not judged: {reason}")
