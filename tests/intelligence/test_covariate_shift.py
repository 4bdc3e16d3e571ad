from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantum_trader.bus import InProcessBus
from quantum_trader.bus.topics import MODEL_COVARIATE_SHIFT
from quantum_trader.bus.typed import subscribe_records
from quantum_trader.clock import SimulatedClock
from quantum_trader.domain.events import CovariateShift, ShiftAction, ShiftState
from quantum_trader.intelligence import (
    CovariateShiftConfig,
    CovariateShiftMonitor,
    ShiftReference,
)
from quantum_trader.status import StatusRegistry
from tests.intelligence.realdata import FEATURES, load_candles, simple_features


@pytest.fixture(scope="module")
def btc_rows(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Training rows and held-out rows drawn from the same 2,000 real hours of BTCUSDT."""
    x = simple_features(load_candles(data_dir, "BTCUSDT", 2005))
    idx = np.random.default_rng(11).permutation(len(x))
    return x[idx[:1500]], x[idx[1500:1756]]


@pytest.mark.data
def test_an_injected_shift_on_real_data_is_found_named_and_down_weighted(
    btc_rows: tuple[np.ndarray, np.ndarray],
) -> None:
    train, held_out = btc_rows
    clock = SimulatedClock(0)
    bus = InProcessBus(clock)
    events: list[CovariateShift] = []
    subscribe_records(bus, MODEL_COVARIATE_SHIFT, events.append)
    handle = StatusRegistry(clock).register("covariate_shift", enabled=True, reason="test")
    monitor = CovariateShiftMonitor(bus, CovariateShiftConfig(down_weight=0.25), handle)
    monitor.fit_reference("xgb", train, FEATURES)

    clean = monitor.check("BTCUSDT", "xgb", held_out, FEATURES, now=1)
    assert not clean.shifted and clean.severity < 1.0 and events == []

    shifted = held_out.copy()
    vol = FEATURES.index("log_volume_change")
    shifted[:, vol] += 0.5 * train[:, vol].std()  # half a standard deviation more volume growth
    report = monitor.check("BTCUSDT", "xgb", shifted, FEATURES, now=2)
    assert report.started and report.features[0].feature == "log_volume_change"
    assert report.features[0].ks_pvalue < 1e-6
    [event] = events
    assert event.state is ShiftState.STARTED and event.action is ShiftAction.DOWN_WEIGHT
    assert event.features[0] == event.evidence[0].feature == "log_volume_change"
    assert event.model == "xgb" and event.time == 2

    weights, changes = monitor.adjust("BTCUSDT", {"xgb": 0.5, "lgbm": 0.5}, now=2)
    assert weights == pytest.approx({"xgb": 0.2, "lgbm": 0.8})  # 0.125 / 0.625 and 0.5 / 0.625
    assert {c.model for c in changes} == {"xgb", "lgbm"}
    assert all(c.module == "covariate_shift" for c in changes)
    assert monitor.adjust("ETHUSDT", {"xgb": 0.5, "lgbm": 0.5}, now=2)[1] == []

    ended = monitor.check("BTCUSDT", "xgb", held_out, FEATURES, now=3)
    assert ended.ended and events[-1].state is ShiftState.ENDED
    assert handle.status.counters == {
        "shift_checks": 3,
        "shifts_detected": 1,
        "shifts_ended": 1,
        "weight_updates": 1,
    }


def test_hysteresis_keeps_a_shift_until_severity_falls_below_the_exit_level() -> None:
    rng = np.random.default_rng(2)
    train = rng.normal(size=(2000, 3))
    monitor = CovariateShiftMonitor(None, CovariateShiftConfig(down_weight=0.0))
    monitor.set_reference("m", ShiftReference.fit(train, ["a", "b", "c"]))
    names = ["a", "b", "c"]

    def window(shift: float) -> np.ndarray:
        w = rng.normal(size=(256, 3))
        w[:, 1] += shift
        return w

    assert monitor.check("S", "m", window(1.0), names, 0).started
    # small shifts whose severity lands between the exit level (0.4) and the entry level (1):
    # enough to keep a running shift, not enough to start one
    probe = CovariateShiftMonitor(None)  # scores windows without touching the monitor's state
    probe.set_reference("m", ShiftReference.fit(train, names))
    candidates = [window(0.12) for _ in range(12)]
    between = [w for w in candidates if 0.4 <= probe.check("T", "m", w, names, 1).severity < 1.0]
    assert len(between) >= 2
    for w in between:
        report = monitor.check("S", "m", w, names, 1)
        assert report.shifted and not report.ended and report.severity < 1.0
    assert not probe.in_shift("T", "m")  # the same windows do not start a shift
    assert monitor.in_shift("S", "m")
    weights, _ = monitor.adjust("S", {"m": 0.5, "n": 0.5}, 1)
    assert weights == {"m": 0.0, "n": 1.0}  # abstains while shifted
    assert monitor.check("S", "m", window(0.0), names, 2).ended
    with pytest.raises(ValueError, match="differ from the training reference"):
        monitor.check("S", "m", window(0.0), ["a", "c", "b"], 3)


def test_a_per_symbol_reference_wins_over_the_global_one() -> None:
    rng = np.random.default_rng(4)
    monitor = CovariateShiftMonitor(None)
    monitor.fit_reference("lgbm", rng.normal(size=(600, 2)), ["a", "b"])  # global member
    monitor.fit_reference("lgbm", rng.normal(5.0, 1.0, size=(600, 2)), ["a", "b"], symbol="ETH")
    live = rng.normal(size=(100, 2))
    assert not monitor.check("BTC", "lgbm", live, ["a", "b"], 0).shifted  # global reference
    assert monitor.check("ETH", "lgbm", live, ["a", "b"], 0).started  # ETH's own reference
    assert monitor.active() == {("ETH", "lgbm"): pytest.approx(monitor.active()[("ETH", "lgbm")])}
    with pytest.raises(KeyError, match="no training reference"):
        monitor.check("BTC", "xgb", live, ["a", "b"], 0)


def test_reference_keeps_its_self_distance_and_restores_it_from_older_states() -> None:
    from quantum_trader.intelligence.shift_stats import energy_distance

    rng = np.random.default_rng(3)
    train = rng.standard_normal((1200, 3))
    ref = ShiftReference.fit(train, ["a", "b", "c"])
    z = (np.asarray(ref.sample) - np.asarray(ref.mean)) / np.asarray(ref.std)
    live = rng.standard_normal((168, 3))
    # the cached self term gives exactly the energy distance computed from scratch
    assert energy_distance(z, live, ref.sample_self_distance) == energy_distance(z, live)
    older = ref.to_state()
    del older["sample_self_distance"]
    assert ShiftReference.from_state(older) == ref


def test_state_writes_a_shared_reference_once_and_restores_it_shared() -> None:
    rng = np.random.default_rng(4)
    names = ["a", "b", "c"]
    shared = ShiftReference.fit(rng.normal(size=(1200, 3)), names)
    own = ShiftReference.fit(rng.normal(size=(1200, 3)), names)
    monitor = CovariateShiftMonitor(None)
    for model in ("xgb", "lgbm", "nhits"):
        monitor.set_reference(model, shared, "BTCUSDT")
    monitor.set_reference("xgb", own, "ETHUSDT")
    monitor.check("BTCUSDT", "xgb", rng.normal(size=(168, 3)) + 2.0, names, 1)
    state = monitor.to_state()
    assert len(state["reference_data"]) == 2

    restored = CovariateShiftMonitor(None)
    restored.load_state(state)
    assert restored.to_state() == state
    assert restored.reference("BTCUSDT", "nhits") is restored.reference("BTCUSDT", "lgbm")
    assert restored.reference("BTCUSDT", "xgb") == shared
    assert restored.reference("ETHUSDT", "xgb") == own
    assert restored.in_shift("BTCUSDT", "xgb")
    # a state written before references were shared (one full copy per model) still loads
    older = dict(state)
    data = older.pop("reference_data")
    older["references"] = [[s, m, data[k]] for s, m, k in state["references"]]
    legacy = CovariateShiftMonitor(None)
    legacy.load_state(older)
    assert legacy.to_state() == state


def test_checking_several_models_at_once_equals_checking_each() -> None:
    rng = np.random.default_rng(5)
    names = [f"f{j}" for j in range(6)]
    train = rng.normal(size=(1200, 6))
    live = rng.normal(0.8, 1.0, size=(168, 6))  # shifted: both models start a shift
    together, alone = CovariateShiftMonitor(None), CovariateShiftMonitor(None)
    for monitor in (together, alone):
        shared = ShiftReference.fit(train, names)
        monitor.set_reference("xgb", shared, "BTCUSDT")
        monitor.set_reference("lgbm", shared, "BTCUSDT")
        monitor.set_reference("nhits", ShiftReference.fit(train[::-1], names))
    models = ["xgb", "lgbm", "nhits"]
    reports = together.check_models("BTCUSDT", models, live, names, now=1)
    assert reports == [alone.check("BTCUSDT", m, live, names, now=1) for m in models]
    assert all(r.started for r in reports) and together.active() == alone.active()
    with pytest.raises(ValueError, match="xgb, lgbm, nhits"):
        together.check_models("BTCUSDT", models, live[:10], names, now=2)
