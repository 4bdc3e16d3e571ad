"""Pending predictions, resolved only once their label horizon has passed on the engine clock.

A prediction made at candle open time ``t`` with horizon ``h`` candles is labelled by the close of
candle ``t + h``, which is known at ``t + (h + 1) * timeframe``: that is ``horizon_end``, and the
caller computes it (:func:`horizon_end_time`). :meth:`PredictionLedger.resolve` releases a
prediction only when ``now >= horizon_end`` *and* the label source has the label; before that the
prediction stays pending, so no module ever learns from the future.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: probabilities are clipped here before the log-loss, so one confident miss costs at most ~6.9.
PROB_FLOOR = 1e-3

LabelSource = Callable[[str, int], int | None]
"""``(symbol, prediction_time) -> class index (0 DOWN, 1 FLAT, 2 UP)`` or None if not known yet."""


def horizon_end_time(prediction_time: int, horizon: int, timeframe_ms: int) -> int:
    """When the label of a prediction at candle open ``prediction_time`` becomes known.

    >>> horizon_end_time(0, 4, 3_600_000)
    18000000
    """
    return prediction_time + (horizon + 1) * timeframe_ms


@dataclass(frozen=True, slots=True)
class Prediction:
    symbol: str
    model: str
    probs: tuple[float, float, float]  # p_down, p_flat, p_up
    prediction_time: int
    horizon_end: int


@dataclass(frozen=True, slots=True)
class ResolvedPrediction:
    """A prediction with its realised label, its log-loss and whether it hit."""

    prediction: Prediction
    label: int
    resolved_at: int
    #: log-loss of the realised class, with the probability floored at PROB_FLOOR; derived from
    #: the prediction and the label once here, because two modules read it for every outcome.
    loss: float = field(init=False)

    def __post_init__(self) -> None:
        loss = -math.log(max(self.prediction.probs[self.label], PROB_FLOOR))
        object.__setattr__(self, "loss", loss)

    @property
    def symbol(self) -> str:
        return self.prediction.symbol

    @property
    def model(self) -> str:
        return self.prediction.model

    @property
    def hit(self) -> bool:
        """The most probable class (the first of a tie) is the realised one."""
        probs = self.prediction.probs
        return probs.index(max(probs)) == self.label


def _check_probs(where: str, probs: tuple[float, float, float]) -> None:
    if len(probs) != 3 or any(not (0.0 <= p <= 1.0) or not math.isfinite(p) for p in probs):
        raise ValueError(f"{where}: probs={probs!r} must be three probabilities")
    if abs(sum(probs) - 1.0) > 1e-6:
        raise ValueError(f"{where}: probs={probs!r} sum to {sum(probs)}, not 1")


class PredictionLedger:
    """Holds predictions until their label is due, then hands out :class:`ResolvedPrediction` s in order."""

    def __init__(self) -> None:
        # per symbol, in arrival order; the sequence number keeps the overall arrival order
        self._pending: dict[str, list[tuple[int, Prediction]]] = {}
        self._seq = 0
        self._last_now: int | None = None
        self.resolved_total = 0

    def __len__(self) -> int:
        return sum(len(items) for items in self._pending.values())

    def observe(
        self,
        symbol: str,
        model: str,
        probs: tuple[float, float, float],
        prediction_time: int,
        horizon_end: int,
    ) -> None:
        # One cheap test per vote; the detailed checks below only run to word a refusal. A NaN
        # fails every comparison and makes the sum NaN, an infinity fails the range or the sum.
        if not (
            len(probs) == 3
            and min(probs) >= 0.0
            and max(probs) <= 1.0
            and abs(sum(probs) - 1.0) <= 1e-6
            and horizon_end > prediction_time
        ):
            where = f"PredictionLedger.observe({symbol}, {model}, t={prediction_time})"
            _check_probs(where, probs)
            raise ValueError(f"{where}: horizon_end={horizon_end} must be after the prediction")
        self._seq += 1
        prediction = Prediction(symbol, model, probs, prediction_time, horizon_end)
        items = self._pending.get(symbol)
        if items is None:
            items = self._pending[symbol] = []
        items.append((self._seq, prediction))

    def resolve(
        self, now: int, labels: LabelSource, symbols: Iterable[str] | None = None
    ) -> list[ResolvedPrediction]:
        """Outcomes of every pending prediction whose horizon ended at or before ``now``.

        Ordered by (horizon_end, prediction_time, symbol, model), so a replay is deterministic.
        A due prediction whose label the source does not have yet stays pending. ``symbols``
        limits the work to those symbols' predictions (a caller that knows only their labels
        can have changed since its last call).
        """
        if self._last_now is not None and now < self._last_now:
            raise ValueError(
                f"PredictionLedger.resolve: now={now} < previous now={self._last_now}: "
                "the engine clock cannot go backwards"
            )
        self._last_now = now
        lists = (
            self._pending.values()
            if symbols is None
            else [self._pending[s] for s in symbols if s in self._pending]
        )
        due = [p for items in lists for _, p in items if p.horizon_end <= now]
        if not due:
            return []
        due.sort(key=lambda p: (p.horizon_end, p.prediction_time, p.symbol, p.model))
        out: list[ResolvedPrediction] = []
        done: set[int] = set()
        for p in due:
            label = labels(p.symbol, p.prediction_time)
            if label is None:
                continue
            if label not in (0, 1, 2):
                raise ValueError(f"label of {p.symbol} at {p.prediction_time} is {label!r}")
            out.append(ResolvedPrediction(p, int(label), now))
            done.add(id(p))
        if done:
            for symbol in {o.symbol for o in out}:
                kept = [item for item in self._pending[symbol] if id(item[1]) not in done]
                if kept:
                    self._pending[symbol] = kept
                else:
                    del self._pending[symbol]
        self.resolved_total += len(out)
        return out

    def pending(self) -> Iterator[Prediction]:
        """Every pending prediction, in arrival order."""
        return (p for _, p in heapq.merge(*self._pending.values(), key=lambda item: item[0]))

    # --- persistence ------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "last_now": self._last_now,
            "resolved_total": self.resolved_total,
            "pending": [
                [p.symbol, p.model, list(p.probs), p.prediction_time, p.horizon_end]
                for p in self.pending()
            ],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._last_now = state["last_now"]
        self.resolved_total = int(state["resolved_total"])
        self._pending = {}
        self._seq = 0
        for s, m, pr, t, e in state["pending"]:
            self._seq += 1
            prediction = Prediction(
                s, m, (float(pr[0]), float(pr[1]), float(pr[2])), int(t), int(e)
            )
            self._pending.setdefault(s, []).append((self._seq, prediction))
