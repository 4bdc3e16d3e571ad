"""A study's bookkeeping on synthetic return series (no engine): candidates from TOML, aligned
returns, the PBO's blocks, the verdict and how it is written."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.domain.errors import ConfigError, DataError
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.evaluation.ledger import Trial
from quantum_trader.evaluation.study import (
    Candidate,
    CandidateRun,
    aligned_returns,
    check_unique,
    judge,
    load_candidates,
    pbo_blocks,
    study_trials,
    to_markdown,
    to_payload,
)
from quantum_trader.performance.metrics import performance

SETTINGS = {"features", "label", "label_horizon", "ensemble_models", "entry_margin_bps"}
T0 = 1_677_628_800_000  # 2023-03-01


def _run(name: str, returns: np.ndarray, *, start: int = T0, **overrides: object) -> CandidateRun:
    equity = 10_000.0 * np.concatenate(([1.0], np.cumprod(1.0 + returns)))
    total = performance(
        equity,
        timeframe="1h",
        trade_net_pnls=[float(equity[-1] - equity[0])],
        trade_gross_pnls=[float(equity[-1] - equity[0]) + 5.0],
        fees=5.0,
        funding=0.0,
        traded_notional=30_000.0,
        exposure=0.5,
    )
    times = tuple(start + (i + 1) * MS_PER_HOUR for i in range(len(returns)))
    return CandidateRun(Candidate(name, overrides), times, returns, total, f"/tmp/{name}")


def _noise(periods: int, candidates: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.01, size=(periods, candidates))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "candidates.toml"
    path.write_text(text)
    return path


# --- candidates ---------------------------------------------------------------------------


def test_a_candidate_keeps_its_overrides_read_only() -> None:
    candidate = Candidate("extended", {"features": "extended"})
    assert candidate.trial_name == "study:extended"
    with pytest.raises(TypeError):
        candidate.overrides["features"] = "base"  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "overrides", "says"),
    [
        ("", {}, "non-empty"),
        ("  ", {}, "non-empty"),
        (" padded", {}, "no spaces"),
        ("a", ["features"], "overrides must be a table"),
        ("a", {1: "x"}, "setting name 1"),
    ],
)
def test_a_bad_candidate_is_refused(name: str, overrides: object, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        Candidate(name, overrides)  # type: ignore[arg-type]


def test_candidate_names_are_unique_in_a_study() -> None:
    check_unique([Candidate("a"), Candidate("b")])
    with pytest.raises(ConfigError, match="candidate 3: name 'a' is taken by candidate 1"):
        check_unique([Candidate("a"), Candidate("b"), Candidate("a")])
    with pytest.raises(ConfigError, match="at least one candidate"):
        check_unique([])


def test_candidates_load_from_toml_in_order(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[[candidate]]
name = "base"

[[candidate]]
name = "extended-barrier"
[candidate.settings]
features = "extended"
label = "barrier"
label_horizon = 24
ensemble_models = ["xgb", "lgbm"]
""",
    )
    base, extended = load_candidates(path, settings=SETTINGS)
    assert (base.name, dict(base.overrides)) == ("base", {})
    assert extended.name == "extended-barrier"
    assert dict(extended.overrides) == {
        "features": "extended",
        "label": "barrier",
        "label_horizon": 24,
        "ensemble_models": ["xgb", "lgbm"],
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[[candidate]\nname = 'a'", "not valid TOML"),
        ("", r"no \[\[candidate\]\] table"),
        ("title = 'x'\n[[candidate]]\nname = 'a'", "unknown top-level key.*title"),
        ("candidate = 'a'", "must be an array of tables"),
        ("[[candidate]]\nlabel = 'x'", "candidate 1: name = None"),
        ("[[candidate]]\nname = ''", "candidate 1: name = ''"),
        ("[[candidate]]\nname = 'a'\nseed = 3", r"candidate 1 \('a'\): unknown key\(s\) seed"),
        ("[[candidate]]\nname = 'a'\nsettings = 3", r"candidate 1 \('a'\): settings = 3"),
        (
            "[[candidate]]\nname = 'a'\n[candidate.settings]\nfeature = 'extended'",
            r"candidate 1 \('a'\): settings.feature: not a setting \(did you mean features\?\)",
        ),
        (
            "[[candidate]]\nname = 'a'\n[candidate.settings]\nhome = '/tmp'",
            r"candidate 1 \('a'\): settings.home: the study keeps it",
        ),
        (
            "[[candidate]]\nname = 'a'\n[[candidate]]\nname = 'a'",
            "candidate 2: name 'a' is taken by candidate 1",
        ),
    ],
)
def test_a_bad_file_is_refused_naming_file_candidate_and_field(
    tmp_path: Path, text: str, says: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=says) as caught:
        load_candidates(path, settings=SETTINGS, refused={"home": "the study keeps it"})
    assert str(caught.value).startswith(f"{path}: ")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_candidates(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="cannot read it"):  # was IsADirectoryError
        load_candidates(tmp_path)


def test_without_a_list_of_settings_any_name_passes(tmp_path: Path) -> None:
    path = _write(tmp_path, "[[candidate]]\nname = 'a'\n[candidate.settings]\nanything = 1")
    (candidate,) = load_candidates(path)
    assert dict(candidate.overrides) == {"anything": 1}


# --- alignment ----------------------------------------------------------------------------


def test_aligned_returns_are_a_periods_by_candidates_matrix() -> None:
    noise = _noise(50, 3)
    runs = [_run(name, noise[:, i]) for i, name in enumerate("abc")]
    times, matrix = aligned_returns(runs)
    assert times == runs[0].times and matrix.shape == (50, 3)
    assert np.array_equal(matrix[:, 2], noise[:, 2])


def test_candidates_on_other_candles_are_refused_saying_which() -> None:
    noise = _noise(50, 3)
    a, b = _run("a", noise[:, 0]), _run("b", noise[:, 1])
    later = _run("later", noise[:, 2], start=T0 + MS_PER_HOUR)
    with pytest.raises(DataError, match=r"candidate 'later' replayed other candles than 'a'"):
        aligned_returns([a, b, later])
    shorter = _run("shorter", noise[:40, 2])
    with pytest.raises(DataError, match=r"'shorter'.*return 41 closes at nothing.*40 returns"):
        aligned_returns([a, shorter])


# --- the verdict ----------------------------------------------------------------------------


def test_pbo_blocks_shrink_with_the_record() -> None:
    assert pbo_blocks(17_280) == 16
    assert pbo_blocks(384) == 16
    assert pbo_blocks(383) == 14
    assert pbo_blocks(100) == 4
    assert pbo_blocks(48) == 2
    assert pbo_blocks(47) is None
    assert pbo_blocks(1_000, most=8) == 8


def test_a_study_of_noise_and_one_edge_finds_the_edge() -> None:
    returns = _noise(2_000, 4, seed=3)
    returns[:, 2] += 0.004  # one candidate with a real edge
    runs = [_run(f"c{i}", returns[:, i]) for i in range(4)]
    result = judge(runs, timeframe="1h", trials=4, trial_sharpe_variance=1e-3)
    assert [r.name for r in result.rows] == ["c0", "c1", "c2", "c3"]
    assert result.periods == 2_000 and result.trials == 4
    pbo = result.pbo
    assert pbo is not None and pbo.blocks == 16 and pbo.combinations == 12_870
    assert pbo.pbo == 0.0 and set(pbo.best.tolist()) == {2}
    best = result.best
    assert best is not None and best.name == "c2"
    for row, run in zip(result.rows, runs, strict=True):
        # the figures are the run's total ones; the DSR deflates the PSR
        assert (row.net_return, row.sharpe, row.trades) == (
            run.total.net_return,
            run.total.sharpe,
            run.total.trades,
        )
        assert (row.turnover, row.fees, row.max_drawdown) == (
            run.total.turnover,
            run.total.fees,
            run.total.max_drawdown,
        )
        assert 0.0 <= row.dsr <= row.psr <= 1.0
        if row.name != "c2":  # not saturated: deflated strictly
            assert row.dsr < row.psr


def test_pbo_of_pure_noise_is_near_a_coin_toss() -> None:
    returns = _noise(1_600, 10, seed=11)
    result = judge(
        [_run(f"c{i}", returns[:, i]) for i in range(10)],
        timeframe="1h",
        trials=10,
        trial_sharpe_variance=1e-4,
    )
    assert result.pbo is not None and 0.2 < result.pbo.pbo < 0.8


def test_pbo_is_not_defined_for_one_candidate_or_a_short_record() -> None:
    one = judge(
        [_run("a", _noise(500, 1)[:, 0])], timeframe="1h", trials=0, trial_sharpe_variance=0
    )
    assert one.pbo is None and "not defined: 1 candidate" in one.pbo_note
    assert one.trials == 1 and one.rows[0].dsr == one.rows[0].psr  # one trial: nothing deflated
    short = _noise(30, 2)
    two = judge(
        [_run("a", short[:, 0]), _run("b", short[:, 1])],
        timeframe="1h",
        trials=2,
        trial_sharpe_variance=0.0,
    )
    assert two.pbo is None and "30 periods are too few" in two.pbo_note


def test_the_study_trials_are_the_ledgers_of_its_timeframe() -> None:
    def trial(name: str, digit: str, sharpe: float, timeframe: str = "1h") -> Trial:
        return Trial("evaluate", name, digit * 64, "v", ("BTCUSDT",), timeframe, 0, 1, 0, {},
                     sharpe, 99, 0)  # fmt: skip

    trials = [
        trial("study:a", "a", 0.02),
        trial("study:b", "b", 0.04),
        trial("baseline:neutral", "c", 0.5),
        trial("system", "d", 0.9, timeframe="4h"),
    ]
    n, v = study_trials(trials, "1h")
    assert n == 2 and v == pytest.approx(0.0002)


def test_the_verdict_is_written_as_json_and_markdown() -> None:
    returns = _noise(200, 2, seed=5)
    returns[:, 1] = 0.0  # a candidate that never trades: no Sharpe ratio
    runs = [_run("a", returns[:, 0], features="extended"), _run("b", returns[:, 1])]
    result = judge(runs, timeframe="1h", trials=2, trial_sharpe_variance=1e-4)
    payload = json.loads(json.dumps(to_payload(result, study="s-1"), allow_nan=False))
    assert payload["study"] == "s-1" and payload["periods"] == 200
    assert list(payload["candidates"]) == ["a", "b"]
    assert payload["candidates"]["a"]["overrides"] == {"features": "extended"}
    assert payload["candidates"]["b"]["sharpe"] is None
    assert math.isfinite(payload["candidates"]["a"]["dsr"])
    assert payload["pbo"]["blocks"] == 8 and payload["pbo"]["combinations"] == 70
    text = to_markdown(result, title="Study x")
    lines = text.splitlines()
    assert lines[0] == "Study x"
    assert (
        lines[2] == "| candidate | net | Sharpe | max DD | trades | turnover | fees | PSR | DSR |"
    )
    assert lines[4].startswith("| a | ") and lines[5].startswith("| b | 0.00% | — |")
    assert "PBO " in text and "P(OOS Sharpe < 0)" in text and "DSR over 2 trial(s)" in text
