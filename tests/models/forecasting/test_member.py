"""Forecasts become DOWN / FLAT / UP votes on the label definition; the live path has no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.clock import SimulatedClock
from quantum_trader.domain.errors import DataError
from quantum_trader.features.labels import LabelSpec, classify_returns
from quantum_trader.models.forecasting.candles import (
    CloseSeries,
    save_candle_member,
    train_candle_forecaster,
)
from quantum_trader.models.forecasting.member import (
    CANDLE_QUANTILES,
    ForecastMember,
    direction_probabilities,
    quantile_cdf,
)
from quantum_trader.models.forecasting.memo import MODELS_KEPT, QuantileMemo, process_memo
from quantum_trader.status import StatusRegistry

REPO = Path(__file__).resolve().parents[3]
LEVELS = np.array(CANDLE_QUANTILES)


def random_walk(rows: int, seed: int) -> CloseSeries:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(0.01 * rng.standard_normal(rows)))
    times = np.arange(rows, dtype=np.int64) * 3_600_000
    return CloseSeries("SYNUSDT", times, close)


@pytest.fixture(scope="module", params=["nhits", "patchtst"])
def member_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, metadata = train_candle_forecaster(
        request.param, [random_walk(700, 1)], LabelSpec(), epochs=1, seed=5, progress=False
    )
    directory = tmp_path_factory.mktemp(request.param)
    final = save_candle_member(model, metadata, directory)
    assert final.artifact_hash and final.scope == "SYNUSDT" and final.horizon == 4
    return directory


@settings(max_examples=60, deadline=None)
@given(
    centre=st.floats(-0.05, 0.05),
    spread=st.floats(1e-4, 0.1),
    dead_zone=st.floats(0.0, 0.01),
)
def test_direction_probabilities_are_a_distribution(
    centre: float, spread: float, dead_zone: float
) -> None:
    quantiles = centre + spread * np.linspace(-1.0, 1.0, len(LEVELS))
    p = direction_probabilities(LEVELS, quantiles, dead_zone)
    assert all(0.0 <= x <= 1.0 for x in p)
    assert abs(sum(p) - 1.0) < 1e-9


def test_probabilities_follow_the_forecast_distribution() -> None:
    up = direction_probabilities(LEVELS, np.linspace(0.002, 0.03, len(LEVELS)), 0.001)
    down = direction_probabilities(LEVELS, np.linspace(-0.03, -0.002, len(LEVELS)), 0.001)
    tight = direction_probabilities(LEVELS, np.linspace(-0.0005, 0.0005, len(LEVELS)), 0.001)
    # all quantiles beyond the dead zone: only the linear tail below the 2% level is left
    assert up[2] > 0.99 and down[0] > 0.99
    assert tight[1] == 1.0


def test_cdf_matches_quantiles_at_the_knots_and_sorts_crossings() -> None:
    values = np.linspace(-1.0, 1.0, len(LEVELS))
    for level, value in zip(LEVELS, values, strict=True):
        assert quantile_cdf(LEVELS, values, float(value)) == pytest.approx(level)
    crossed = values.copy()
    crossed[[3, 4]] = crossed[[4, 3]]
    assert quantile_cdf(LEVELS, crossed, 0.0) == pytest.approx(0.5)


def _numpy_quantile_cdf(levels: np.ndarray, values: np.ndarray, at: float) -> float:
    """The reference definition with numpy: np.interp between knots, clipped linear tails."""
    q = np.sort(values)
    if at <= q[0] or at >= q[-1]:
        i, j = (0, 1) if at <= q[0] else (-2, -1)
        span = q[j] - q[i]
        with np.errstate(invalid="ignore"):
            slope = (levels[j] - levels[i]) / span if span > 0 else np.inf
            edge = (
                levels[i] + (at - q[i]) * slope if at <= q[0] else levels[j] + (at - q[j]) * slope
            )
        return float(np.clip(np.nan_to_num(edge, nan=0.5, posinf=1.0, neginf=0.0), 0.0, 1.0))
    return float(np.interp(at, q, levels))


@pytest.mark.parametrize("shape", ["random", "sorted", "tie", "flat", "coarse"])
def test_cdf_equals_numpy_interp_bit_for_bit(shape: str) -> None:
    rng = np.random.default_rng(len(shape))
    for _ in range(2000):
        v = rng.normal(0.0, 0.01, len(LEVELS))
        if shape == "sorted":
            v = np.sort(v)
        elif shape == "tie":
            v[3] = v[4]
        elif shape == "flat":
            v[:] = 0.001
        elif shape == "coarse":
            v = np.round(v, 3)
        knots = np.sort(v)
        for at in (-0.001, 0.001, float(v[5]), float(knots[0]), float(knots[-1]), 0.05, -0.05):
            assert quantile_cdf(LEVELS, v, at) == _numpy_quantile_cdf(LEVELS, v, at)


def test_member_votes_on_label_classes(member_dir: Path) -> None:
    registry = StatusRegistry(SimulatedClock(0))
    handle = registry.register("nhits", enabled=True, reason="test")
    member = ForecastMember.load(member_dir, status=handle)
    closes = random_walk(400, 2).close
    vote = member.vote("SYNUSDT", closes)
    assert vote.model == member.name
    assert abs(vote.p_down + vote.p_flat + vote.p_up - 1.0) < 1e-9
    # the vote is the CDF of the forecast return, taken at ± the label dead zone
    q = member.return_quantiles(closes)
    label_of_median = classify_returns(np.array([np.median(q)]), member.labels.dead_zone)[0]
    assert [vote.p_down, vote.p_flat, vote.p_up][int(label_of_median)] > 0.0
    probs = member.predict_proba(np.stack([closes[-200:], closes[-300:-100]]))
    assert probs.shape == (2, 3)
    assert np.allclose(probs[0], [vote.p_down, vote.p_flat, vote.p_up])
    assert handle.status.counters["predictions"] == 1


def test_member_refuses_bad_windows_and_counts_them(member_dir: Path) -> None:
    registry = StatusRegistry(SimulatedClock(0))
    handle = registry.register("m", enabled=True, reason="test")
    member = ForecastMember.load(member_dir, status=handle)
    closes = random_walk(200, 3).close
    holed = closes.copy()
    holed[-1] = np.nan
    with pytest.raises(DataError, match="non-finite"):
        member.vote("SYNUSDT", holed)
    with pytest.raises(DataError, match="input_size=168"):
        member.vote("SYNUSDT", closes[-100:])
    with pytest.raises(DataError, match="> 0"):
        member.vote("SYNUSDT", -closes)
    with pytest.raises(DataError, match="trained for SYNUSDT"):
        member.vote("ETHUSDT", closes)
    assert handle.status.counters == {"refused_windows": 3}


SERVING_SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
from quantum_trader.models.forecasting.member import ForecastMember
member = ForecastMember.load(Path(sys.argv[1]))
closes = 100 * np.exp(np.cumsum(0.01 * np.random.default_rng(0).standard_normal(300)))
vote = member.vote("SYNUSDT", closes)
print(json.dumps({"torch": "torch" in sys.modules, "p": [vote.p_down, vote.p_flat, vote.p_up]}))
"""


def test_serving_process_never_imports_torch(member_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-c", SERVING_SCRIPT, str(member_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["torch"] is False
    assert abs(sum(result["p"]) - 1.0) < 1e-9


def test_candle_member_onnx_matches_torch_at_price_scale(member_dir: Path) -> None:
    """Full-size candle networks on log prices (~4.6 here): served and trained outputs agree."""
    from quantum_trader.models.forecasting.api import Forecaster
    from quantum_trader.models.forecasting.windows import window_pairs

    closes = random_walk(600, 4).close
    windows = window_pairs(np.log(closes)[:, None], 168, 4, stride=17).x
    torch_out = Forecaster.load(member_dir).predict_batch(windows)
    onnx_out = ForecastMember.load(member_dir).model.predict_batch(windows)
    diff = float(np.abs(torch_out - onnx_out).max())
    print(f"candle member max |torch - onnx| = {diff:.3g}")
    assert diff <= 1e-5


def test_a_memo_gives_the_same_votes_and_computes_each_window_once(member_dir: Path) -> None:
    """Batch votes over overlapping stretches of one series (an RL run's episodes): with a
    memo each window is computed once, and every vote equals the one without it, bit for bit,
    including a stretch whose windows are all known and one with a single new window."""
    closes = random_walk(700, 4).close
    plain = ForecastMember.load(member_dir)
    kept = ForecastMember.load(member_dir)
    kept.memo = QuantileMemo()
    size = plain.input_size
    computed: list[int] = []
    run_model = kept.model.predict_batch

    def counted(windows: np.ndarray) -> np.ndarray:
        computed.append(len(windows))
        return run_model(windows)

    kept.model.predict_batch = counted  # type: ignore[method-assign]
    stretches = [(size, 400), (300, 600), (350, 450), (599, 601), (size - 5, size + 20)]
    for start, stop in stretches:
        windows = [closes[: t + 1] for t in range(start, stop)]
        with_memo, without = (
            kept.batch_work("SYNUSDT", windows),
            plain.batch_work("SYNUSDT", windows),
        )
        assert with_memo.finish(with_memo.compute()) == without.finish(without.compute())
    distinct = len({t for a, b in stretches for t in range(max(a, size - 1), b)})
    assert sum(computed) == distinct == len(kept.memo)  # each usable window computed once
    assert kept.memo.hits == sum(b - max(a, size - 1) for a, b in stretches) - distinct


def test_a_memo_keeps_its_newest_rows_and_the_process_its_newest_models() -> None:
    memo = QuantileMemo(capacity=2)
    row = np.zeros(3)
    for key in (b"a", b"b", b"c"):
        memo.put(key, row)
    assert memo.get(b"a") is None and memo.get(b"c") is row and len(memo) == 2
    first = process_memo("h0", 4)
    for i in range(1, MODELS_KEPT + 1):
        process_memo(f"h{i}", 4)
    assert process_memo("h0", 4) is not first  # evicted, a new one
    assert process_memo(f"h{MODELS_KEPT}", 4) is process_memo(f"h{MODELS_KEPT}", 4)
    with pytest.raises(ValueError, match="capacity"):
        QuantileMemo(capacity=0)
