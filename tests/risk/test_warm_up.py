"""The ``warm_up`` rule (issue 22, item 4): after the live feed skipped candles of a symbol, its
entries are refused until the feature pipeline's warm-up has passed in its own candles; exits
pass; refusals are journalled with the rule's name and counted; a log line at each end."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.market import Candle
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.features.pipeline import FeatureConfig, StreamingFeatures
from quantum_trader.observability.logging import configure_logging
from quantum_trader.risk.config import RiskConfig
from quantum_trader.risk.decision import Outcome
from quantum_trader.risk.engine import RiskEngine
from quantum_trader.risk.kill_switch import KillSwitch
from quantum_trader.risk.policy_source import FixedPolicySource
from quantum_trader.risk.portfolio_view import OpenPosition
from quantum_trader.risk.warm_up import WarmUps, feature_warm_up
from quantum_trader.status.registry import StatusRegistry
from tests.risk.fakes import FakePortfolio, MemoryJournal, MemoryKillSwitchStore
from tests.risk.helpers import T0, buy, portfolio, sell

H = MS_PER_HOUR


def _engine(
    pf: FakePortfolio, clock: SimulatedClock, journal: MemoryJournal
) -> tuple[RiskEngine, dict[str, int]]:
    """The engine and its module's status counters (``quantum-trader status`` shows them)."""
    registry = StatusRegistry(clock)
    eng = RiskEngine(
        config=RiskConfig(),
        portfolio=pf,
        policy=FixedPolicySource(TradingPolicy()),
        kill_switch=KillSwitch(MemoryKillSwitchStore(), clock),
        journal=journal,
        clock=clock,
        status=registry,
    )
    return eng, registry.get("risk_safety").status.counters


def _candle(pf: FakePortfolio, clock: SimulatedClock, eng: RiskEngine, close: int) -> None:
    """A closed candle of every symbol: what the decision pipeline does before deciding."""
    clock.advance_to(close)
    pf.candle_close.update({"BTCUSDT": close, "ETHUSDT": close})
    eng.refresh_state()


def _rules(reasons: tuple[str, ...]) -> list[str]:
    return [r.split(":")[0] for r in reasons]


def test_entries_are_refused_for_the_warm_up_candles_and_exits_pass(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(run_id="warm-up", fmt="console", level="INFO")
    clock = SimulatedClock(T0)
    pf = portfolio()
    pf.positions["BTCUSDT"] = OpenPosition(0.05, 50_000.0)
    journal = MemoryJournal()
    eng, counters = _engine(pf, clock, journal)
    # BTCUSDT comes back with the candle opening at T0 after 4 skipped: 3 candles of warm-up
    warm = eng.start_warm_up("BTCUSDT", since=T0, step=H, candles=3, skipped=4)
    assert warm.until == T0 + 3 * H and counters["symbols_warming_up"] == 1
    for k in (1, 2):  # its first two candles after the hole: their windows span it
        _candle(pf, clock, eng, T0 + k * H)
        d = eng.evaluate(buy(qty=0.01))
        assert d.outcome is Outcome.REJECTED and _rules(d.reasons) == ["warm_up"]
        assert f"{3 - k} more of 3 candles" in d.reasons[0]
        assert d.reasons[0].startswith("warm_up: BTCUSDT rejoined the live feed at ")
        flip = eng.evaluate(sell(qty=0.1))  # a flip opens a short: an entry too
        assert flip.outcome is Outcome.REJECTED and "warm_up" in _rules(flip.reasons)
        assert eng.evaluate(sell(qty=0.05)).outcome is Outcome.APPROVED  # the exit
        assert eng.evaluate(sell(qty=0.02, reduce_only=True)).outcome is Outcome.APPROVED
        assert eng.evaluate(buy("ETHUSDT", qty=0.1)).outcome is Outcome.APPROVED  # not its hole
    assert counters["entries_held_warm_up"] == 4 and "BTCUSDT" in eng.warm_ups
    _candle(pf, clock, eng, T0 + 3 * H)  # the third: every window of 3 lies after the hole
    assert eng.warm_ups == {} and counters["symbols_warming_up"] == 0
    assert eng.evaluate(buy(qty=0.01)).outcome is Outcome.APPROVED
    assert counters["entries_held_warm_up"] == 4 and counters["warm_ups_started"] == 1
    # every refusal is journalled with the rule's name
    held = [d for d in journal.decisions if "warm_up" in _rules(d.reasons)]
    assert len(held) == 4 and all(d.outcome is Outcome.REJECTED for d in held)
    out = capsys.readouterr()
    log = out.out + out.err
    assert "risk.warm_up_started" in log and "skipped=4" in log and "candles=3" in log
    assert "risk.warm_up_ended" in log
    assert log.index("risk.warm_up_started") < log.index("risk.warm_up_ended")


def test_a_new_hole_during_a_warm_up_starts_it_again_from_there() -> None:
    clock = SimulatedClock(T0)
    pf = portfolio()
    eng, _ = _engine(pf, clock, MemoryJournal())
    eng.start_warm_up("BTCUSDT", since=T0, step=H, candles=3, skipped=2)
    _candle(pf, clock, eng, T0 + 2 * H)
    eng.start_warm_up("BTCUSDT", since=T0 + 4 * H, step=H, candles=3, skipped=2)
    _candle(pf, clock, eng, T0 + 5 * H)  # past the first warm-up's end, not the second's
    assert eng.evaluate(buy(qty=0.01)).outcome is Outcome.REJECTED
    _candle(pf, clock, eng, T0 + 7 * H)
    assert eng.evaluate(buy(qty=0.01)).outcome is Outcome.APPROVED


def test_no_warm_up_no_effect_and_bad_input_is_refused() -> None:
    clock = SimulatedClock(T0)
    pf = portfolio()
    eng, counters = _engine(pf, clock, MemoryJournal())
    assert eng.evaluate(buy(qty=0.01)).outcome is Outcome.APPROVED  # a replay never starts one
    assert "symbols_warming_up" not in counters and "entries_held_warm_up" not in counters
    for bad in ({"candles": 0}, {"step": 0}, {"skipped": -1}):
        args = {"since": T0, "step": H, "candles": 3, "skipped": 1} | bad
        with pytest.raises(ValueError, match=r"WarmUps\.start"):
            WarmUps().start("BTCUSDT", **args)


def test_the_warm_up_is_the_feature_pipelines_first_complete_row() -> None:
    # the base features: rvol_96 needs 97 closes; the extended: rvol_336 needs 337
    # (features/extended.py); measured on the pipeline, so a longer window lengthens it
    assert feature_warm_up(FeatureConfig(), "1h") == 97
    assert feature_warm_up(FeatureConfig(extended=True), "1h") == 337
    # the same count on another price path: a fresh state's first complete row is row W
    rng = np.random.default_rng(7)
    state = StreamingFeatures("BTCUSDT", "1h")
    price = 30_000.0
    for n in range(1, 200):
        price *= float(np.exp(rng.normal(0, 0.01)))
        o, c = price, price * float(np.exp(rng.normal(0, 0.005)))
        candle = Candle(
            "BTCUSDT", "1h", T0 + n * H, o, max(o, c) * 1.002, min(o, c) * 0.998, c, 5.0
        )
        state.update(candle)
        if state.ready:
            break
    assert n == feature_warm_up(FeatureConfig(), "1h")


def test_a_follower_holds_entries_wherever_its_engine_does() -> None:
    # a shadow account's engine: the holds on when it starts to follow, and each later one
    clock = SimulatedClock(T0)
    pf, shadow_pf = portfolio(), portfolio()
    eng, counters = _engine(pf, clock, MemoryJournal())
    shadow, _ = _engine(shadow_pf, clock, MemoryJournal())
    eng.start_warm_up("BTCUSDT", since=T0, step=H, candles=2, skipped=3)
    eng.follow_warm_ups(shadow)
    eng.start_warm_up("ETHUSDT", since=T0, step=H, candles=3, skipped=1)

    assert set(shadow.warm_ups) == {"BTCUSDT", "ETHUSDT"}
    assert shadow.warm_ups == eng.warm_ups
    assert counters["warm_ups_started"] == 2  # the follower's are counted once, by its engine
    d = shadow.evaluate(buy(qty=0.01))
    assert d.outcome is Outcome.REJECTED and _rules(d.reasons) == ["warm_up"]
    # the follower settles on its own account's candles
    _candle(shadow_pf, clock, shadow, T0 + 2 * H)
    assert set(shadow.warm_ups) == {"ETHUSDT"} and set(eng.warm_ups) == {"BTCUSDT", "ETHUSDT"}
    assert shadow.evaluate(buy(qty=0.01)).outcome is Outcome.APPROVED


def test_a_follower_let_go_is_dropped() -> None:
    clock = SimulatedClock(T0)
    eng, _ = _engine(portfolio(), clock, MemoryJournal())
    shadow, _ = _engine(portfolio(), clock, MemoryJournal())
    eng.follow_warm_ups(shadow)
    del shadow
    gc.collect()

    eng.start_warm_up("BTCUSDT", since=T0, step=H, candles=2, skipped=3)  # reaches no one
    assert list(eng._followers) == []
