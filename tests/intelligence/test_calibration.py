"""Live calibration against a direct computation over the same labels: the discounted sums
updated in O(1) per label must give the ECE, Brier score and log-loss that weighing every
label ``discount ** age`` and computing the figures from scratch gives."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quantum_trader.clock import SimulatedClock
from quantum_trader.intelligence import MODULES, Intelligence, IntelligenceConfig
from quantum_trader.intelligence.calibration import BINS, LiveCalibration
from quantum_trader.intelligence.ledger import Prediction, ResolvedPrediction
from quantum_trader.intelligence.reinforcement import Reinforcement, ReinforcementConfig
from quantum_trader.models.metrics import brier_score, expected_calibration_error
from quantum_trader.status.registry import StatusRegistry
from tests.intelligence.calibration_cases import Probs, direct, loss, votes


def fed(discount: float, probs: list[Probs], labels: list[int]) -> LiveCalibration:
    cal = LiveCalibration(discount)
    for q, label in zip(probs, labels, strict=True):
        cal.update("BTCUSDT", "xgb", q, label, loss(q, label))
    return cal


def test_without_discount_the_figures_are_models_metrics_over_every_label() -> None:
    probs, labels = votes(0, 50)
    f = fed(1.0, probs, labels).figures("BTCUSDT", "xgb")
    assert f is not None
    y, p = np.array(labels, dtype=np.float64), np.array(probs)
    assert f.ece == pytest.approx(expected_calibration_error(y, p), rel=1e-12)
    assert f.brier == pytest.approx(brier_score(y, p), rel=1e-12)
    assert f.log_loss == pytest.approx(
        np.mean([loss(q, k) for q, k in zip(probs, labels, strict=True)])
    )
    assert f.weight == 50
    assert 0.02 < f.ece < 0.5  # a case where calibration is neither perfect nor absent


@pytest.mark.parametrize("discount", [0.95, 0.8])
def test_a_discount_weighs_each_label_by_its_age(discount: float) -> None:
    probs, labels = votes(1, 50)
    f = fed(discount, probs, labels).figures("BTCUSDT", "xgb")
    assert f is not None
    want = direct(probs, labels, discount)
    assert f.ece == pytest.approx(want["ece"], rel=1e-9)
    assert f.brier == pytest.approx(want["brier"], rel=1e-12)
    assert f.log_loss == pytest.approx(want["log_loss"], rel=1e-12)
    assert f.weight == pytest.approx(want["count"], rel=1e-12)
    # the discount matters: the undiscounted figure over the same labels is another number
    assert abs(f.ece - direct(probs, labels, 1.0)["ece"]) > 1e-3


def test_reliability_bins_are_the_discounted_bins_and_give_the_ece_again() -> None:
    probs, labels = votes(2, 50)
    discount = 0.9
    cal = fed(discount, probs, labels)
    p, y = np.array(probs), np.array(labels)
    w = discount ** np.arange(len(y) - 1, -1, -1, dtype=np.float64)
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    which = np.minimum((confidence * BINS).astype(np.int64), BINS - 1)
    bins = cal.reliability("BTCUSDT", "xgb")
    total = float(w.sum())
    ece = 0.0
    for b, got in enumerate(bins):
        inside = which == b
        if not inside.any():
            assert got is None
            continue
        assert got is not None
        n = float(w[inside].sum())
        assert got.n == pytest.approx(n, rel=1e-12)
        assert got.confidence == pytest.approx(float((w * confidence)[inside].sum()) / n)
        assert got.accuracy == pytest.approx(float((w * correct)[inside].sum()) / n, abs=1e-12)
        ece += got.n / total * abs(got.accuracy - got.confidence)
    figures = cal.figures("BTCUSDT", "xgb")
    assert figures is not None and figures.ece == pytest.approx(ece, rel=1e-9)


def test_pairs_are_kept_apart_and_the_means_count_only_pairs_with_enough_evidence() -> None:
    cal = LiveCalibration(0.95)  # a pair counts from 10 discounted labels: its 14th
    streams = {("BTCUSDT", "xgb"): votes(3, 40), ("BTCUSDT", "lgbm"): votes(4, 30),
               ("ETHUSDT", "xgb"): votes(5, 13)}  # fmt: skip
    for i in range(40):  # interleaved, as the ledger releases them
        for (symbol, model), (probs, labels) in streams.items():
            if i < len(labels):
                cal.update(symbol, model, probs[i], labels[i], loss(probs[i], labels[i]))
    wants = {pair: direct(p, y, 0.95) for pair, (p, y) in streams.items()}
    for (symbol, model), want in wants.items():
        got = cal.figures(symbol, model)
        assert got is not None
        assert (got.ece, got.brier) == pytest.approx((want["ece"], want["brier"]), rel=1e-9)
    assert cal.figures("ETHUSDT", "lgbm") is None
    assert [(f.symbol, f.model) for f in cal.snapshot()] == sorted(streams)
    mature = [w for w in wants.values() if w["count"] >= 10]
    assert cal.mature == len(mature) == 2  # ETHUSDT/xgb's 13 labels weigh under 10
    assert cal.mean_ece() == pytest.approx(np.mean([w["ece"] for w in mature]), rel=1e-9)
    assert cal.mean_brier() == pytest.approx(np.mean([w["brier"] for w in mature]), rel=1e-9)
    assert LiveCalibration(0.95).mean_ece() is None


def test_a_saved_state_continues_bit_for_bit() -> None:
    probs, labels = votes(6, 50)
    whole = fed(0.9, probs, labels)
    first = fed(0.9, probs[:20], labels[:20])
    second = LiveCalibration(0.9)
    second.load_state(json.loads(json.dumps(first.to_state())))
    assert second.to_state() == first.to_state()
    for q, label in zip(probs[20:], labels[20:], strict=True):
        second.update("BTCUSDT", "xgb", q, label, loss(q, label))
    assert second.to_state() == whole.to_state()
    assert second.figures("BTCUSDT", "xgb") == whole.figures("BTCUSDT", "xgb")
    assert second.mature == whole.mature == 1
    assert second.mean_ece() == pytest.approx(whole.mean_ece(), rel=1e-12)


def test_bad_discount_and_bad_state_fail_loudly() -> None:
    for discount in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="discount"):
            LiveCalibration(discount)
    state = fed(0.9, *votes(7, 5)).to_state()
    state["BTCUSDT"]["xgb"]["bins"][1] = [0.0] * (BINS - 1)
    with pytest.raises(ValueError, match="BTCUSDT, xgb"):
        LiveCalibration(0.9).load_state(state)


def outcomes(seed: int, n: int) -> list[ResolvedPrediction]:
    probs, labels = votes(seed, n)
    return [
        ResolvedPrediction(Prediction("BTCUSDT", model, q, t, t + 1), label, t + 1)
        for t, (q, label) in enumerate(zip(probs, labels, strict=True))
        for model in ("xgb", "nhits")
    ]


def test_reinforcement_feeds_the_calibration_without_it_touching_the_weights() -> None:
    batch = outcomes(8, 40)
    fed_outcomes = Reinforcement()
    fed_outcomes.on_outcomes(batch)
    losses_only = Reinforcement()
    for o in batch:
        losses_only.update(o.symbol, o.model, o.loss)
    assert fed_outcomes.snapshot() == losses_only.snapshot()  # bit for bit
    xgb = [o for o in batch if o.model == "xgb"]
    want = direct([o.prediction.probs for o in xgb], [o.label for o in xgb], 0.95)
    got = fed_outcomes.calibration.figures("BTCUSDT", "xgb")
    assert got is not None and got.ece == pytest.approx(want["ece"], rel=1e-9)
    assert list(losses_only.calibration.snapshot()) == []  # a loss alone carries no votes


def test_reinforcement_state_keeps_the_calibration_and_loads_an_older_state() -> None:
    rl = Reinforcement(ReinforcementConfig(discount=0.9))
    rl.on_outcomes(outcomes(9, 30))
    state = json.loads(json.dumps(rl.to_state()))
    again = Reinforcement(ReinforcementConfig(discount=0.9))
    again.load_state(state)
    assert list(again.calibration.snapshot()) == list(rl.calibration.snapshot())
    older = {"members": state["members"]}  # saved before the live calibration existed
    old = Reinforcement(ReinforcementConfig(discount=0.9))
    old.load_state(older)
    assert old.snapshot() == rl.snapshot()
    assert list(old.calibration.snapshot()) == []
    assert old.calibration.mature == 0


def test_the_status_gauges_are_the_means_in_millionths() -> None:
    registry = StatusRegistry(SimulatedClock(0))
    intel = Intelligence(
        IntelligenceConfig(enabled={m: m == "reinforcement" for m in MODULES}), registry=registry
    )
    rl = intel.reinforcement
    assert rl is not None
    rl.on_outcomes(outcomes(10, 8))  # 8 labels per pair weigh under 10: none counts yet
    counters = registry.get("reinforcement").status.counters
    assert "live_ece_mean_ppm" not in counters
    rl.on_outcomes(outcomes(11, 30))
    counters = registry.get("reinforcement").status.counters
    assert counters["live_calibrated_pairs"] == 2
    assert counters["live_ece_mean_ppm"] == round(1e6 * (rl.calibration.mean_ece() or 0))
    assert counters["live_brier_mean_ppm"] == round(1e6 * (rl.calibration.mean_brier() or 0))
    figures = list(rl.calibration.snapshot())
    mean_ece = sum(f.ece for f in figures) / 2
    assert abs(counters["live_ece_mean_ppm"] - 1e6 * mean_ece) <= 1
    assert 10_000 < counters["live_ece_mean_ppm"] < 600_000
