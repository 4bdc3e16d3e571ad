"""The validation gate's trading check (issue 17 item 2, trading part) with fake scorers: a
candidate significantly worse in trading fails, an equal one passes, one that fails the
log-loss test is never replayed, and every validation is handed on for the trial ledger."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sqlalchemy import Engine

from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.errors import DataError, LookAheadError
from quantum_trader.domain.signals import ModelVote
from quantum_trader.features.dataset import Dataset
from quantum_trader.features.labels import LabelSpec
from quantum_trader.learning.gate import GateConfig, Validation, ValidationGate
from quantum_trader.learning.registry import ModelKey, ModelRegistry, ModelVersion, Stage
from quantum_trader.learning.trading_check import (
    TradingReplay,
    TradingReplayError,
    TradingReplays,
    check_trading,
)
from quantum_trader.models.base import ModelMetadata
from quantum_trader.models.ensemble.member import Member, VoteContext
from quantum_trader.performance.metrics import performance

TF = 3_600_000
HORIZON = 4
KEY = ModelKey("xgb", "BTCUSDT", HORIZON)
ROWS = 336
START = 1_700_000_000_000
UP_WORLD, DOWN_WORLD, BASE = (0.1, 0.2, 0.7), (0.7, 0.2, 0.1), (0.4, 0.2, 0.4)


def replay(returns: np.ndarray) -> TradingReplay:
    equity = 10_000.0 * np.concatenate(([1.0], np.cumprod(1.0 + returns)))
    perf = performance(
        equity,
        timeframe="1h",
        trade_net_pnls=[1.0, -1.0],
        trade_gross_pnls=[1.5, -0.5],
        fees=1.0,
        funding=0.1,
        traded_notional=20_000.0,
        exposure=0.5,
    )
    times = tuple(START + TF * (i + 1) for i in range(len(returns)))
    return TradingReplay(times, returns, perf)


def pair(seed: int, edge: float, n: int = ROWS - 1) -> TradingReplays:
    """Champion and candidate over the same candles: a shared market move, each its own noise;
    the candidate's mean per candle is ``edge`` away from the champion's."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0, 0.004, n)
    champion = 0.5 * market + rng.normal(0.0, 0.002, n)
    candidate = 0.5 * market + rng.normal(0.0, 0.002, n) + edge
    return TradingReplays(replay(champion), replay(candidate), seconds=1.0)


# --- the check -------------------------------------------------------------------------
def test_a_candidate_trading_significantly_worse_fails() -> None:
    check = check_trading(pair(0, edge=-0.002), alpha=0.05)
    assert not check.passed and check.difference is not None
    assert check.difference.high < 0.0 and "significantly worse" in check.reason


def test_a_candidate_trading_exactly_like_its_champion_passes() -> None:
    same = pair(1, edge=0.0)
    check = check_trading(TradingReplays(same.champion, same.champion, 1.0), alpha=0.05)
    assert check.passed and check.difference is not None
    assert check.difference.point == check.difference.high == 0.0


def test_a_candidate_merely_not_proven_better_passes() -> None:
    """The null is "not worse": a candidate slightly behind, within noise, is not refused."""
    check = check_trading(pair(2, edge=-0.0001), alpha=0.05)
    assert check.passed and check.difference is not None and check.difference.low < 0.0


def test_replays_of_other_candles_are_refused() -> None:
    a, b = pair(3, 0.0), pair(3, 0.0, n=ROWS - 2)
    with pytest.raises(DataError, match="other candles"):
        check_trading(TradingReplays(a.champion, b.candidate, 1.0), alpha=0.05)


def test_a_a_false_fail_rate_is_near_the_level() -> None:
    """Arms of equal skill (the candidate's edge 0) over 335 candles, 400 replicates: the
    one-sided 5 % check fails about 5 % of them (measured: see docs/learning.md)."""
    replicates = 400
    fails = sum(
        not check_trading(pair(100 + s, 0.0), alpha=0.05, samples=1000, seed=s).passed
        for s in range(replicates)
    )
    assert fails / replicates <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / replicates)


# --- the gate with a fake scorer -------------------------------------------------------
class Fixed:
    """A member answering its row's probabilities (rows by open time from START)."""

    name = "xgb"

    def __init__(self, probs: np.ndarray) -> None:
        self.probs = probs

    def vote(self, symbol: str, context: VoteContext) -> ModelVote:
        return ModelVote("xgb", *self.probs[(context.time - START) // TF])


class FakeScorer:
    def __init__(self, replays: TradingReplays | Exception) -> None:
        self.replays = replays
        self.calls: list[tuple[ModelVersion, tuple[int, int]]] = []

    def __call__(self, candidate: ModelVersion, window: tuple[int, int]) -> TradingReplays:
        self.calls.append((candidate, window))
        if isinstance(self.replays, Exception):
            raise self.replays
        return self.replays


def _validation(seed: int) -> tuple[Dataset, np.ndarray]:
    """Held-out rows drawn from a known process, and the true class distribution of each."""
    rng = np.random.default_rng(seed)
    truth = np.where(rng.integers(0, 2, ROWS)[:, None] == 1, UP_WORLD, DOWN_WORLD)
    y = (rng.random(ROWS)[:, None] > np.cumsum(truth, axis=1)).sum(axis=1).astype(np.float64)
    times = START + TF * np.arange(ROWS, dtype=np.int64)
    data = Dataset(
        "BTCUSDT", "1h", ("f",), times, np.zeros((ROWS, 1)), y, np.zeros(ROWS), LabelSpec()
    )
    return data, truth


class Rig:
    """A champion without skill in PRODUCTION, a skilled and a clueless candidate, the gate."""

    def __init__(
        self,
        engine: Engine,
        scorer: FakeScorer | None,
        *,
        fitted_until: int,
        record: Callable[[Validation], object] | None = None,
    ) -> None:
        self.registry = ModelRegistry(SqlRegistryRepository(engine), SimulatedClock(START))
        self.data, truth = _validation(7)
        self.members: dict[int, Member] = {}
        self.champion = self._add(Fixed(np.tile(BASE, (ROWS, 1))), fitted_until, Stage.PRODUCTION)
        self.skilled = self._add(Fixed(truth), fitted_until, Stage.CANDIDATE)
        self.clueless = self._add(Fixed(truth[::-1].copy()), fitted_until, Stage.CANDIDATE)
        self.recorded: list[Validation] = []
        self.gate = ValidationGate(
            self.registry,
            self._load,
            HORIZON,
            GateConfig(),
            trading=scorer,
            record=record or self.recorded.append,
        )

    def _add(self, member: Member, fitted_until: int, stage: Stage) -> ModelVersion:
        tag = str(len(self.members))
        meta = ModelMetadata("xgb", tag, "BTCUSDT", HORIZON, ("f",), {}, (0, fitted_until))
        version = self.registry.register(meta, f"h{tag}", actor="test", reason="t")
        if stage is not Stage.CANDIDATE:
            version = self.registry.promote(KEY, version.version, actor="t", reason="t", to=stage)
        self.members[version.version] = member
        return version

    def _load(self, key: ModelKey, version: int | None) -> Member:
        production = self.registry.production(key)
        assert production is not None
        return self.members[production.version if version is None else version]

    def judge(self, version: ModelVersion) -> Stage:
        self.gate(version, self.data)
        return self.registry.get(KEY, version.version).stage


#: the last row fitted on whose label is known exactly when the validation window opens
UNSEEN = START - (HORIZON + 1) * TF


def test_the_log_loss_failure_skips_the_replay(sqlite_engine: Engine) -> None:
    scorer = FakeScorer(pair(4, edge=0.0))
    rig = Rig(sqlite_engine, scorer, fitted_until=UNSEEN)
    assert rig.judge(rig.clueless) is Stage.RETIRED
    assert scorer.calls == []
    (validation,) = rig.recorded
    assert validation.result.trading is None and not validation.result.passed
    assert validation.result.figures()["candidate_sharpe"] is None


def test_a_candidate_better_in_log_loss_but_worse_in_trading_is_retired(
    sqlite_engine: Engine,
) -> None:
    scorer = FakeScorer(pair(5, edge=-0.002))
    rig = Rig(sqlite_engine, scorer, fitted_until=UNSEEN)
    assert rig.judge(rig.skilled) is Stage.RETIRED
    ((version, window),) = scorer.calls
    assert version.version == rig.skilled.version
    assert window == (START, START + ROWS * TF)  # the held-out rows' candles, open to close
    (validation,) = rig.recorded
    result = validation.result
    assert result.statistic > 0 and not result.passed and result.trading is not None
    assert "passed" in result.reason and "significantly worse" in result.reason
    assert validation.window == window and validation.symbol == "BTCUSDT"
    figures = result.figures()
    assert figures["passed"] == 0.0 and figures["trading_passed"] == 0.0
    assert figures["dm_statistic"] == pytest.approx(result.statistic)
    for name in ("log_loss", "auc", "brier", "ece", "sharpe", "profit_factor", "max_drawdown",
                 "turnover", "fees", "funding"):  # fmt: skip
        assert figures[f"candidate_{name}"] is not None, name
        assert figures[f"champion_{name}"] is not None, name
    high = figures["sharpe_difference_high"]
    assert high is not None and high < 0.0


def test_a_candidate_better_in_log_loss_and_not_worse_in_trading_enters_the_shadow(
    sqlite_engine: Engine,
) -> None:
    scorer = FakeScorer(pair(6, edge=0.0))
    rig = Rig(sqlite_engine, scorer, fitted_until=UNSEEN)
    assert rig.judge(rig.skilled) is Stage.SHADOW
    assert len(scorer.calls) == 1 and rig.recorded[0].result.trading is not None
    assert "not worse beyond noise" in rig.recorded[0].result.reason


def test_without_a_scorer_the_gate_judges_log_loss_alone(sqlite_engine: Engine) -> None:
    rig = Rig(sqlite_engine, None, fitted_until=UNSEEN)
    assert rig.judge(rig.skilled) is Stage.SHADOW
    assert rig.recorded[0].result.trading is None


def test_a_scorer_that_cannot_replay_leaves_the_log_loss_verdict(sqlite_engine: Engine) -> None:
    scorer = FakeScorer(TradingReplayError("nhits/global/h4 has no PRODUCTION version"))
    rig = Rig(sqlite_engine, scorer, fitted_until=UNSEEN)
    assert rig.judge(rig.skilled) is Stage.SHADOW
    assert "trading not judged: nhits/global/h4" in rig.recorded[0].result.reason


def test_a_candidate_fitted_on_a_label_inside_the_window_is_refused(sqlite_engine: Engine) -> None:
    scorer = FakeScorer(pair(8, edge=0.0))
    rig = Rig(sqlite_engine, scorer, fitted_until=UNSEEN + TF)
    with pytest.raises(LookAheadError, match="after the validation window opens"):
        rig.gate(rig.skilled, rig.data)
    assert scorer.calls == []
