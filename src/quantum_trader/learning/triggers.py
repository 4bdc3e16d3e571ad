"""What asks for a retraining, and what a retraining may read.

A :class:`Trigger` names a model line and why it should be trained again: its SCHEDULE came
round, ``drift_detection`` saw its losses change (DRIFT), ``covariate_shift`` saw its inputs
leave their training distribution (COVARIATE_SHIFT), or the shadow evaluator's production watch
found it worse than the base rate on matured labels (DECAY). :class:`TriggerInbox` collects the
bus's events between two checks of the learning daemon.

:func:`training_rows` is the cut-off, enforced in code: a training started at engine time ``T``
may fit only rows whose label window closed at or before ``T`` (a row opening at ``t`` is
labelled by the close ``horizon`` candles later, known at ``t + (horizon + 1)`` candles, as
``intelligence/ledger.horizon_end_time`` says). It
refuses (LookAheadError) a dataset holding a labelled row whose label was not known at ``T``:
whoever read the candles read too far, and training on it would be look-ahead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from quantum_trader.bus import topics
from quantum_trader.bus.port import EventBus
from quantum_trader.bus.typed import subscribe_records
from quantum_trader.domain.errors import LookAheadError
from quantum_trader.domain.events import CovariateShift, DriftDetected, ShiftState
from quantum_trader.domain.time import fmt
from quantum_trader.features.dataset import Dataset


class TriggerKind(StrEnum):
    SCHEDULE = "SCHEDULE"
    DRIFT = "DRIFT"
    COVARIATE_SHIFT = "COVARIATE_SHIFT"
    DECAY = "DECAY"


@dataclass(frozen=True, slots=True)
class Trigger:
    kind: TriggerKind
    model: str
    symbol: str
    at: int  # engine time it was raised
    detail: str

    def describe(self) -> str:
        return f"{self.kind} of {self.model}/{self.symbol} at {fmt(self.at)} ({self.detail})"

    def to_row(self) -> list[Any]:
        """As a saved state keeps it (the learning daemon's document)."""
        return [self.kind.value, self.model, self.symbol, self.at, self.detail]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Trigger:
        kind, model, symbol, at, detail = row
        return cls(TriggerKind(kind), model, symbol, int(at), detail)


class TriggerInbox:
    """The drift and covariate-shift events since the daemon's last look."""

    def __init__(self, bus: EventBus | None = None) -> None:
        self._triggers: list[Trigger] = []
        if bus is not None:
            subscribe_records(bus, topics.MODEL_DRIFT_DETECTED, self._on_drift)
            subscribe_records(bus, topics.MODEL_COVARIATE_SHIFT, self._on_shift)

    def add(self, trigger: Trigger) -> None:
        self._triggers.append(trigger)

    def take(self) -> list[Trigger]:
        taken, self._triggers = self._triggers, []
        return taken

    def _on_drift(self, event: DriftDetected) -> None:
        if event.side == "mean_down":
            return  # the losses fell: the model got better, nothing to retrain for
        detail = f"{event.detector} {event.side}, statistic {event.statistic:.3g}"
        self.add(Trigger(TriggerKind.DRIFT, event.model, event.symbol, event.time, detail))

    def _on_shift(self, event: CovariateShift) -> None:
        if event.state is not ShiftState.STARTED:
            return  # the end of a shift asks for nothing
        detail = f"{', '.join(event.features[:3])} shifted, severity {event.severity:.3g}"
        self.add(
            Trigger(TriggerKind.COVARIATE_SHIFT, event.model, event.symbol, event.time, detail)
        )


def training_rows(dataset: Dataset, trigger_at: int, timeframe_ms: int) -> Dataset:
    """``dataset`` checked against a training started at ``trigger_at``: every labelled row's
    label must be known by then (rows without a label are never fitted). Raises
    LookAheadError naming the first row that breaks the rule."""
    horizon = dataset.label_spec.horizon
    # when each row's label becomes known (the ledger's rule, on the whole column at once)
    known = dataset.open_time + (horizon + 1) * timeframe_ms
    late = np.flatnonzero(~np.isnan(dataset.y) & (known > trigger_at))
    if late.size:
        row = int(late[0])
        raise LookAheadError(
            f"training of {dataset.symbol} started at {fmt(trigger_at)}: row {row} (opens "
            f"{fmt(int(dataset.open_time[row]))}) has a label known only at "
            f"{fmt(int(known[row]))}; {late.size} rows read past the trigger"
        )
    return dataset
