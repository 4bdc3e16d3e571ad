"""The learning daemon's forecaster lines: what a retraining reads, holds out, and starts from.

A forecaster (N-HiTS, PatchTST: ``models/forecasting``) is one global line fitted on every
symbol's closes (``trainers.FORECAST_SCOPE``). Its retraining at trigger time ``T`` mirrors a
tabular line's (``learning/daemon.py``), in these terms:

* **Cut-off, enforced in code.** :func:`training_closes` refuses (LookAheadError) a series
  holding a candle that closed after ``T``. A forecaster's training targets and the labels of
  its calibration rows are closes of the series, so every one of them was known at ``T``: the
  decision row at candle ``t`` is labelled by the close ``horizon`` candles later, known at
  ``t + (horizon + 1)`` candles, the rule ``triggers.training_rows`` applies to tabular rows.
* **Held out for the gate.** Per symbol, the newest ``validation_rows`` labelled decision rows
  are held out, and the fit reads only the closes before the first of them: its last target
  is the close just before the first held-out row, exactly where a tabular line's purge of
  ``horizon`` rows ends its labels. A held-out row carries the ``window`` closes ending at its
  candle *in place of a feature row* (:func:`validation_rows`), with the label of the tabular
  rows (``direction_labels``); the gate asks each member for a vote on ``VoteContext(t,
  features=row)``, so the app hands the gate forecasters behind :class:`WindowRows`, which
  passes that row on as the history window the forecaster reads. The symbols' rows are
  concatenated, symbol after symbol: the gate's long-run variance covers the overlap of label
  windows within a symbol, not the correlation between symbols at the same hour (BTC and ETH
  move together), so its test is somewhat optimistic for a forecaster line.
* **Warm start** (``QT_FORECASTER_WARM_START``, on by default): the fit starts from the
  PRODUCTION version's weights for ``warm_epochs`` epochs (``trainers.WarmStart``), on the
  newest ``warm_days`` of the closes before the held-out rows (0: all of them); the new
  version's lineage names the version it started from. The production version was fitted
  before its own trigger, so it saw nothing after ``T`` either; its weights may have been fitted
  on closes inside this training's held-out rows only if its own series was too short to hold
  out a calibration tail (``forecasting/held_out.py``).

**The label** is always the sign of the return over the horizon (``LabelSpec.sign_spec``): a
forecaster forecasts closes and turns the forecast into the classes of that sign. Under the
triple-barrier label (``QT_LABEL=barrier``) the tabular members learn the barrier, and the
forecaster lines keep the sign label of the same horizon and dead zone: their training window
and their held-out rows carry the sign twin.

Torch-free: the fit itself runs in the daemon's worker process (``trainers.fit_in_this_process``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quantum_trader.domain.errors import LookAheadError
from quantum_trader.domain.signals import ModelVote
from quantum_trader.domain.time import fmt, timeframe_ms
from quantum_trader.features.dataset import Dataset
from quantum_trader.features.labels import LabelSpec, direction_labels, forward_returns
from quantum_trader.learning.registry import ModelVersion
from quantum_trader.learning.trainers import (
    FORECAST_SCOPE,
    Closes,
    FitOptions,
    TrainingWindow,
    WarmStart,
)
from quantum_trader.models.ensemble.member import Abstention, Member, VoteContext

#: the closes a forecaster's training reads: (symbol, first open time, trigger time) → that
#: symbol's closes of every candle closing at or before the trigger time
ReadCloses = Callable[[str, int, int], Closes]


@dataclass(frozen=True, slots=True)
class ForecasterConfig:
    """How the daemon retrains its forecaster lines (the app builds it from the settings)."""

    labels: LabelSpec
    symbols: tuple[str, ...]  # every symbol the global line serves, and is fitted on
    timeframe: str
    #: closes per held-out row: at least the forecasters' input_size (168; a member reads the
    #: newest input_size of them and abstains on a shorter window)
    window: int = 168
    epochs: int | None = None  # a full retraining's epochs (None: the architecture's own)
    warm_start: bool = True  # QT_FORECASTER_WARM_START (docs/learning.md: why on)
    warm_epochs: int = 3
    #: a warm start fine-tunes on the newest warm_days of its closes (0: all); QT_FORECASTER_WARM_DAYS
    warm_days: int = 0
    #: TrainingConfig overrides of a warm start (e.g. a lower learning rate)
    warm_params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("ForecasterConfig.symbols: a forecaster line needs a symbol")
        if self.window < 2 or self.warm_epochs < 1 or (self.epochs is not None and self.epochs < 1):
            raise ValueError(
                f"ForecasterConfig: window={self.window} must be >= 2, warm_epochs="
                f"{self.warm_epochs} and epochs={self.epochs} >= 1"
            )
        if self.warm_days < 0:
            raise ValueError(f"ForecasterConfig: warm_days={self.warm_days} must be >= 0")
        timeframe_ms(self.timeframe)  # an unknown timeframe fails here, by name


def training_closes(closes: Closes, trigger_at: int, timeframe: int) -> Closes:
    """``closes`` checked against a training started at ``trigger_at``: every candle must have
    closed by then (a forecaster fits on the closes themselves). Raises LookAheadError naming
    the first candle that breaks the rule.

    >>> from quantum_trader.domain.time import MS_PER_HOUR as H
    >>> ok = Closes("BTCUSDT", np.array([0, H]), np.array([1.0, 1.1]))
    >>> len(training_closes(ok, 2 * H, H).close)
    2
    >>> training_closes(ok, 2 * H - 1, H)
    Traceback (most recent call last):
    ...
    quantum_trader.domain.errors.LookAheadError: training of BTCUSDT started at 1970-01-01T01:59:59.999Z: candle 1 (opens 1970-01-01T01:00:00Z) closed only at 1970-01-01T02:00:00Z; 1 candles read past the trigger
    """
    late = np.flatnonzero(closes.open_time + timeframe > trigger_at)
    if late.size:
        row = int(late[0])
        opened = int(closes.open_time[row])
        raise LookAheadError(
            f"training of {closes.symbol} started at {fmt(trigger_at)}: candle {row} (opens "
            f"{fmt(opened)}) closed only at {fmt(opened + timeframe)}; {late.size} candles "
            "read past the trigger"
        )
    return closes


@dataclass(frozen=True, slots=True)
class ForecasterJob:
    window: TrainingWindow
    validation: Dataset
    options: FitOptions


def first_held_out(n: int, horizon: int, rows: int) -> int:
    """The first held-out decision row of ``n`` closes: the newest ``rows`` rows with a label.

    >>> first_held_out(100, 4, 10)  # rows 86..95; row 95's label is close 99
    86
    """
    return n - horizon - rows


def validation_rows(
    series: Sequence[Closes], labels: LabelSpec, rows: int, window: int, timeframe: str
) -> Dataset:
    """The held-out decision rows of every series, each with the ``window`` closes ending at
    its candle as its row (see the module docstring), concatenated symbol after symbol. Their
    label is the sign of the return (``labels.sign_spec()``, whatever ``labels.kind``): what a
    forecaster predicts."""
    labels = labels.sign_spec()
    h = labels.horizon
    parts = []
    for closes in series:
        c = np.asarray(closes.close, dtype=np.float64)
        picked = np.arange(first_held_out(len(c), h, rows), len(c) - h)
        windows = np.lib.stride_tricks.sliding_window_view(c, window)[picked - window + 1]
        parts.append(
            (
                closes.open_time[picked],
                windows,
                direction_labels(c, labels)[picked],
                forward_returns(c, h)[picked],
            )
        )
    return Dataset(
        FORECAST_SCOPE,
        timeframe,
        tuple(f"close_lag_{lag}" for lag in range(window - 1, -1, -1)),
        np.concatenate([p[0] for p in parts]).astype(np.int64),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        np.concatenate([p[3] for p in parts]),
        labels,
    )


def forecaster_job(
    config: ForecasterConfig,
    read: ReadCloses,
    trigger_at: int,
    train_ms: int,
    validation: int,
    seed: int,
    production: ModelVersion | None,
) -> ForecasterJob | None:
    """The training of a forecaster line at ``trigger_at`` (engine thread), or None when some
    symbol has too few closes before its held-out rows to fit and stop early on."""
    tf = timeframe_ms(config.timeframe)
    h, size = config.labels.horizon, config.window
    full = [
        training_closes(read(s, trigger_at - train_ms, trigger_at), trigger_at, tf)
        for s in config.symbols
    ]
    cuts = [first_held_out(len(c.close), h, validation) for c in full]
    if min(cuts) < 3 * (size + h):
        return None
    heads = tuple(
        Closes(c.symbol, c.open_time[:cut], c.close[:cut])
        for c, cut in zip(full, cuts, strict=True)
    )
    held = validation_rows(full, config.labels, validation, size, config.timeframe)
    warm = None
    if config.warm_start and production is not None:
        warm = WarmStart(
            production.version,
            production.artifact_hash,
            config.warm_epochs,
            config.warm_params,
            config.warm_days,
        )
    options = FitOptions(seed=seed, epochs=config.epochs, warm_start=warm)
    sign = config.labels.sign_spec()  # a forecaster's label (module docstring)
    window = TrainingWindow(closes=heads, labels=sign, scope=FORECAST_SCOPE)
    return ForecasterJob(window, held, options)


class WindowRows:
    """A forecaster member as the gate sees it: the held-out row is its history window.

    Only for the gate's rows of a forecaster line (:func:`validation_rows`); the decision path
    gives a forecaster its window in ``VoteContext.window`` and never needs this.
    """

    def __init__(self, member: Member) -> None:
        self.name = member.name
        self._member = member

    def vote(self, symbol: str, context: VoteContext) -> ModelVote | Abstention:
        return self._member.vote(symbol, VoteContext(context.time, window=context.features))
