"""The pipeline's realised labels are the labels the members were trained on.

A live label is computed candle by candle as it matures (``SymbolInputs.realised_label``); the
members learnt the batch label of ``make_dataset``. On real data the two agree on every candle
both label, for the sign label (the default, unchanged) and for the triple barrier; and the cost
gate counts each move in the class its candle's label turned out to be.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantum_trader.adapters.candle_store import CandleStore
from quantum_trader.decision.inputs import PipelineConfig, SymbolInputs
from quantum_trader.decision.pipeline import DecisionPipeline
from quantum_trader.domain.market import Candle
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.features.dataset import candle_labels
from quantum_trader.features.labels import LabelSpec
from quantum_trader.features.series import CandleSeries
from quantum_trader.strategy.cost_gate import EntryCostConfig, EntryCostGate
from tests.decision.warm_pipeline import warm_up_pipeline

SYMBOL = "BTCUSDT"
ROWS = 3_000
BARRIER = LabelSpec(horizon=6, kind="barrier", upper=1.5, lower=2.0)


@pytest.fixture(scope="module")
def btc(data_dir: Path) -> CandleSeries:
    series = CandleStore(data_dir).series(SYMBOL, "1h")
    return series.slice(len(series) - ROWS, len(series))


def candles(series: CandleSeries) -> list[Candle]:
    return [
        Candle(SYMBOL, "1h", int(t), float(o), float(h), float(lo), float(c), float(v))
        for t, o, h, lo, c, v in zip(
            series.open_time,
            series.open,
            series.high,
            series.low,
            series.close,
            series.volume,
            strict=True,
        )
    ]


def live_labels(series: CandleSeries, spec: LabelSpec) -> np.ndarray:
    """Each candle's label as the pipeline learns it: asked when it matures, with the pipeline's
    forgetting of old closes and labels after every candle."""
    sym = SymbolInputs(SYMBOL, PipelineConfig("1h", labels=spec), ())
    out = np.full(len(series), np.nan)
    for i, candle in enumerate(candles(series)):
        sym.record(candle)
        sym.forget_before(candle.open_time - (spec.horizon + 66) * MS_PER_HOUR)
        if i >= spec.horizon:
            label = sym.realised_label(candle.open_time - spec.horizon * MS_PER_HOUR)
            out[i - spec.horizon] = math.nan if label is None else label
    return out


@pytest.mark.parametrize("spec", [LabelSpec(), BARRIER], ids=["sign", "barrier"])
def test_live_labels_are_the_batch_labels(btc: CandleSeries, spec: LabelSpec) -> None:
    batch = candle_labels(btc, spec)
    live = live_labels(btc, spec)
    assert np.array_equal(live, batch, equal_nan=True)
    labelled = int((~np.isnan(live)).sum())
    first = spec.vol_span if spec.kind == "barrier" else 0  # no σ before
    assert labelled == ROWS - spec.horizon - first


def test_sign_labels_keep_no_barrier_state() -> None:
    sym = SymbolInputs(SYMBOL, PipelineConfig("1h"), ())
    assert sym.barrier is None and sym.fork_inputs().barrier is None
    assert SymbolInputs(SYMBOL, PipelineConfig("1h", labels=BARRIER), ()).barrier is not None


def _pipeline(spec: LabelSpec, gate: EntryCostGate) -> DecisionPipeline:
    return warm_up_pipeline(PipelineConfig("1h", labels=spec), [SYMBOL], gate=gate)


@pytest.mark.parametrize("spec", [LabelSpec(), BARRIER], ids=["sign", "barrier"])
def test_the_pipeline_labels_and_prices_moves_by_the_trained_label(
    btc: CandleSeries, spec: LabelSpec
) -> None:
    window = 720
    gate = EntryCostGate(EntryCostConfig(0.0005, 1.0, spec.horizon, window=window), 0.001)
    pipeline = _pipeline(spec, gate)
    frame = pd.DataFrame(
        {
            "open_time": btc.open_time,
            "open": btc.open,
            "high": btc.high,
            "low": btc.low,
            "close": btc.close,
            "volume": btc.volume,
        }
    )
    try:
        assert pipeline.warm_up({SYMBOL: frame}) == ROWS
        batch = candle_labels(btc, spec)
        recent = btc.open_time[-70 : -spec.horizon]  # what the pipeline still holds
        assert [pipeline._label(SYMBOL, int(t)) for t in recent] == batch[
            -70 : -spec.horizon
        ].tolist()
    finally:
        pipeline.close()
    # the gate's class means: each known forward return in its candle's label class
    fwd = btc.close[spec.horizon :] / btc.close[: -spec.horizon] - 1.0
    classes = batch[: -spec.horizon]
    expected = []
    for k in (0, 1, 2):
        moves = fwd[classes == k][-window:]
        expected.append(float(moves.mean()))
    assert gate.class_means(SYMBOL) == pytest.approx(tuple(expected), rel=1e-9)


class _RecordingGate(EntryCostGate):
    def __init__(self) -> None:
        super().__init__(EntryCostConfig(0.0005, 1.0, BARRIER.horizon), 0.001)
        self.seen: list[tuple[float, int | None]] = []

    def observe(self, symbol: str, forward_return: float, outcome: int | None = None) -> None:
        self.seen.append((forward_return, outcome))
        super().observe(symbol, forward_return, outcome)


def test_the_filter_never_sees_the_outcome_of_the_trade_it_filters(btc: CandleSeries) -> None:
    """Meta-labelling's filter (the ensemble through the cost gate, QT_ENTRY_RULE=primary) is
    fed a candle's outcome only once its horizon has passed: after candle k closes — when an
    entry at k is decided — it has seen the moves of candles up to k − horizon, never k's own."""
    gate = _RecordingGate()
    pipeline = _pipeline(BARRIER, gate)
    h = BARRIER.horizon
    part = btc.slice(0, 400)
    batch = candle_labels(part, BARRIER)
    try:
        for k in range(len(part)):
            one = pd.DataFrame(
                {c: getattr(part, c)[k : k + 1] for c in ("open", "high", "low", "close", "volume")}
                | {"open_time": part.open_time[k : k + 1]}
            )
            before = len(gate.seen)
            pipeline.warm_up({SYMBOL: one})
            if k < h or math.isnan(batch[k - h]):  # no outcome known yet (or no σ: none)
                assert len(gate.seen) == before
                continue
            assert len(gate.seen) == before + 1
            newest_move, newest_label = gate.seen[-1]
            assert newest_move == part.close[k] / part.close[k - h] - 1.0  # candle k − h's
            assert newest_label == int(batch[k - h])
        assert len(gate.seen) == len(part) - h - BARRIER.vol_span
    finally:
        pipeline.close()
