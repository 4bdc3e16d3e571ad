"""The folds of a walk-forward of the whole system, and the variants replayed on each.

A fold is a test window ``[start, end)`` and the training window before it: the models of a
fold are fitted on ``[train_start, train_end)``, which ends ``embargo`` candles before the fold
(``train_end <= start``). A label looks ``horizon`` candles ahead, so the training rows whose
label would need a close inside the fold are purged: the history handed to training ends at
``train_end``, and rows without a known label are never fitted on. :func:`check_training_window`
checks what the registry says each model was fitted on against that rule, after the fact.

Windows are *sliding* (every fold trains on the same number of days) or *expanding* (every fold
trains from the first fold's training start).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from quantum_trader.domain.errors import ConfigError, LookAheadError
from quantum_trader.domain.time import MS_PER_DAY, fmt

WindowKind = Literal["sliding", "expanding"]


@dataclass(frozen=True, slots=True)
class Fold:
    index: int
    train_start: int  # epoch ms, first training candle's open (at or after)
    train_end: int  # epoch ms, training candles open before it (the embargo ends at start)
    start: int  # first replayed candle's open
    end: int  # replayed candles open before it

    @property
    def train_days(self) -> int:
        return (self.train_end - self.train_start) // MS_PER_DAY

    def describe(self) -> str:
        return (
            f"fold {self.index + 1}: train {fmt(self.train_start)} → {fmt(self.train_end)}, "
            f"test {fmt(self.start)} → {fmt(self.end)}"
        )


def plan_folds(
    *,
    start: int,
    end: int,
    folds: int,
    train_days: int,
    embargo_ms: int = 0,
    window: WindowKind = "sliding",
) -> list[Fold]:
    """``folds`` consecutive test windows of equal whole days covering ``[start, end)`` (the
    remainder of a day count that does not divide goes to the last fold), each with its
    training window.

    >>> fs = plan_folds(start=0, end=30 * MS_PER_DAY, folds=3, train_days=20)
    >>> [(f.start // MS_PER_DAY, f.end // MS_PER_DAY, f.train_start // MS_PER_DAY) for f in fs]
    [(0, 10, -20), (10, 20, -10), (20, 30, 0)]
    >>> [f.train_start // MS_PER_DAY for f in plan_folds(
    ...     start=0, end=30 * MS_PER_DAY, folds=3, train_days=20, window="expanding")]
    [-20, -20, -20]
    """
    if folds < 1:
        raise ConfigError(f"--folds {folds}: give at least one fold")
    if train_days < 1:
        raise ConfigError(f"--train-days {train_days}: give at least one day")
    if embargo_ms < 0:
        raise ConfigError(f"embargo of {embargo_ms} ms: must be >= 0")
    if end <= start:  # a start after the data's end said "holds -2025 whole day(s)"
        raise ConfigError(f"the folds' start {fmt(start)} is not before their end {fmt(end)}")
    days = (end - start) // MS_PER_DAY
    if days < folds:
        raise ConfigError(
            f"{fmt(start)} → {fmt(end)} holds {days} whole day(s): too few for {folds} folds"
        )
    size = days // folds
    first_train = start - embargo_ms - train_days * MS_PER_DAY
    out = []
    for i in range(folds):
        fold_start = start + i * size * MS_PER_DAY
        fold_end = end if i == folds - 1 else fold_start + size * MS_PER_DAY
        train_end = fold_start - embargo_ms
        train_start = first_train if window == "expanding" else train_end - train_days * MS_PER_DAY
        out.append(Fold(i, train_start, train_end, fold_start, fold_end))
    return out


def check_training_window(
    fold: Fold,
    model: str,
    window: tuple[int, int] | None,
    *,
    horizon: int,
    tf_ms: int,
    trained_at: int | None = None,
) -> None:
    """Refuse a model whose training rows reach into its fold.

    A version continuous learning trained during the fold's replay (``trained_at``: when it
    was registered, engine time) may have been fitted on the fold's own earlier candles, as it
    would have been live: its labels must be known by ``trained_at`` instead of by the end of
    the training window.

    ``window`` is the first and last open time it was fitted on (the registry's lineage). The
    label of the row opening at ``t`` compares the close of ``t`` with the close of the candle
    opening at ``t + horizon·tf``, known at ``t + (horizon + 1)·tf``: that must be at or before
    the embargo's start, and the first row at or after the fold's training start.

    >>> f = Fold(0, 0, 10 * 3_600_000, 10 * 3_600_000, 20 * 3_600_000)
    >>> check_training_window(f, "xgb", (0, 5 * 3_600_000), horizon=4, tf_ms=3_600_000)
    >>> check_training_window(f, "xgb", (0, 6 * 3_600_000), horizon=4, tf_ms=3_600_000)
    Traceback (most recent call last):
    ...
    quantum_trader.domain.errors.LookAheadError: fold 1: xgb was fitted on a row opening at 1970-01-01T06:00:00Z whose label is known at 1970-01-01T11:00:00Z, after its training window ends (1970-01-01T10:00:00Z)
    """
    if window is None:
        raise LookAheadError(f"fold {fold.index + 1}: {model} records no training window")
    first, last = window
    known = last + (horizon + 1) * tf_ms
    if trained_at is not None and fold.start < trained_at:
        if known > trained_at:
            raise LookAheadError(
                f"fold {fold.index + 1}: {model}, retrained during the fold at "
                f"{fmt(trained_at)}, was fitted on a row opening at {fmt(last)} whose label "
                f"is known only at {fmt(known)}"
            )
        return
    if known > fold.train_end:
        raise LookAheadError(
            f"fold {fold.index + 1}: {model} was fitted on a row opening at {fmt(last)} whose "
            f"label is known at {fmt(known)}, after its training window ends "
            f"({fmt(fold.train_end)})"
        )
    if first < fold.train_start:
        raise LookAheadError(
            f"fold {fold.index + 1}: {model} was fitted from {fmt(first)}, before its training "
            f"window starts ({fmt(fold.train_start)})"
        )


@dataclass(frozen=True, slots=True)
class Variant:
    """One configuration replayed on every fold: the system, or a baseline.

    ``overrides`` are settings over the evaluation's own (``selector``, ``sizer`` …); ``trader``
    says what trades: the decision ``pipeline``, or ``buy_and_hold``.
    """

    name: str
    kind: Literal["system", "baseline"]
    description: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    trader: Literal["pipeline", "buy_and_hold"] = "pipeline"


SYSTEM = Variant("system", "system", "the system as configured")
BASELINES: tuple[Variant, ...] = (
    Variant("buy_and_hold", "baseline", "equal-weight buy and hold", trader="buy_and_hold"),
    Variant("neutral", "baseline", "flat: never trade", {"selector": "fixed:Neutral"}),
    *(
        Variant(
            f"only_{name}",
            "baseline",
            f"{name} alone (selector fixed)",
            {"selector": f"fixed:{name}"},
        )
        for name in ("TrendFollowing", "MeanReversion", "Breakout")
    ),
    Variant("random_selector", "baseline", "seeded random strategy choice", {"selector": "random"}),
    # the learned selectors' yardstick (the same replay as the system when it is the rules: run
    # once, by evaluate_variants' deduplication)
    Variant("rule_selector", "baseline", "the regime rule selector", {"selector": "regime_rules"}),
    Variant(
        "fixed_fractional",
        "baseline",
        "fixed-fractional sizing",
        {"sizer": "fixed_fractional"},
    ),
)
