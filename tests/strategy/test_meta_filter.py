"""Meta-labelling's secondary model (``strategy/meta_filter.py``): events resolve on their own
exits, after costs; the model learns which rule entries pay and never sees the outcome of an
entry before its exits have closed."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.domain.market import Candle
from quantum_trader.domain.orders import Side
from quantum_trader.domain.time import MS_PER_HOUR
from quantum_trader.strategy.intents import TradeAction, TradeIntent
from quantum_trader.strategy.meta_filter import MetaFilter, MetaFilterConfig

T0 = 1_700_000_000_000
RT = 0.0012


def _intent(side: Side, t: int = T0, price: float = 100.0, strategy: str = "TrendFollowing"):
    stop = price * (0.98 if side is Side.BUY else 1.02)
    target = price * (1.04 if side is Side.BUY else 0.96)
    return TradeIntent(
        "BTCUSDT", t, TradeAction.ENTRY, side, price, strategy, "", 0.1, stop, target
    )


def _candle(i: int, low: float, high: float, close: float) -> Candle:
    return Candle("BTCUSDT", "1h", T0 + i * MS_PER_HOUR, close, high, low, close, 1.0)


def _filter(**kw: object) -> MetaFilter:
    config = MetaFilterConfig(horizon=4, round_trip=RT, **kw)  # type: ignore[arg-type]
    return MetaFilter(config)


ROW = np.zeros(3)


@pytest.mark.parametrize(
    ("side", "path", "net"),
    [
        (Side.BUY, [(99.0, 101.0, 100.5), (97.9, 100.0, 98.5)], -0.02 - RT),  # stop
        (Side.BUY, [(99.5, 104.2, 104.0)], 0.04 - RT),  # target
        (Side.BUY, [(97.0, 105.0, 100.0)], -0.02 - RT),  # through both: the stop
        (Side.BUY, [(99.5, 101.0, 100.5)] * 3 + [(99.5, 101.0, 101.0)], 0.01 - RT),  # time
        (Side.SELL, [(95.9, 100.5, 96.0)], 0.04 - RT),
        (Side.SELL, [(99.0, 102.5, 102.0)], -0.02 - RT),
    ],
)
def test_an_entry_resolves_on_its_own_exits_after_costs(
    side: Side, path: list[tuple[float, float, float]], net: float
) -> None:
    meta = _filter()
    meta.assess(_intent(side), ROW, open_time=T0, funding_rate=0.0)
    meta.observe(_candle(0, 50.0, 150.0, 100.0))  # the candle decided on resolves nothing
    for i, (low, high, close) in enumerate(path, start=1):
        assert meta.known_times() == 0
        meta.observe(_candle(i, low, high, close))
    assert meta.known_times() == 1
    assert meta._known[0][1] == pytest.approx(net)


def test_funding_paid_over_the_candles_held_counts_against_the_entry() -> None:
    meta = _filter()
    meta.assess(_intent(Side.BUY), ROW, open_time=T0, funding_rate=0.0008)
    for i in range(1, 5):
        meta.observe(_candle(i, 99.5, 100.5, 100.0))
    assert meta._known[0][1] == pytest.approx(-RT - 0.0008 * 4 / 8)


def _learnable(meta: MetaFilter, n: int, rng: np.random.Generator, start: int = 0) -> None:
    """Entries whose first feature says whether the next candle reaches the target."""
    for k in range(start, start + n):
        t = T0 + 2 * k * MS_PER_HOUR
        x = rng.normal(size=3)
        meta.assess(_intent(Side.BUY, t), x, open_time=t, funding_rate=0.0)
        wins = x[0] > 0
        candle = Candle("BTCUSDT", "1h", t + MS_PER_HOUR, 100, 104.5 if wins else 100.5,
                        97.5 if not wins else 99.5, 100.0, 1.0)  # fmt: skip
        meta.observe(candle)


def test_it_learns_which_entries_pay_and_refuses_the_others() -> None:
    rng = np.random.default_rng(0)
    meta = _filter(min_events=100, refit_every=50)
    _learnable(meta, 99, rng)
    assert meta.trained_on == 0 and meta.stats.unfiltered == 99  # too few: unfiltered
    _learnable(meta, 101, rng, start=99)
    assert meta.stats.fits >= 1 and meta.trained_on >= 100
    t = T0 + 10_000 * MS_PER_HOUR
    good = meta.assess(_intent(Side.BUY, t), np.array([1.5, 0.0, 0.0]), open_time=t,
                       funding_rate=0.0)  # fmt: skip
    bad = meta.assess(_intent(Side.BUY, t), np.array([-1.5, 0.0, 0.0]), open_time=t,
                      funding_rate=0.0)  # fmt: skip
    assert good.passed and not bad.passed
    assert good.probability is not None and bad.probability is not None
    assert good.probability > 0.6 > 0.3 > bad.probability
    # break-even p* = L / (W + L): wins +4 % − costs, losses −2 % − costs
    assert good.breakeven == pytest.approx((0.02 + RT) / (0.04 - RT + 0.02 + RT))


def test_it_never_sees_the_outcome_of_an_entry_whose_exits_are_open() -> None:
    """Every fit reads only events resolved by a candle already seen; the entry being judged,
    and every entry still open, are never among them."""
    rng = np.random.default_rng(1)
    meta = _filter(min_events=20, refit_every=5)
    seen: list[int] = []
    for k in range(200):
        t = T0 + k * MS_PER_HOUR
        meta.assess(_intent(Side.BUY, t), rng.normal(size=3), open_time=t, funding_rate=0.0)
        open_events = sum(len(v) for v in meta._open.values())
        # what the model may have learnt from: resolved events only, all decided before t
        assert meta.known_times() + open_events == k + 1
        assert meta.trained_on <= meta.known_times() <= k
        seen.append(meta.known_times())
        close = 100.0 + rng.normal()
        meta.observe(_candle(k + 1, min(99.0, close), max(101.0, close), close))
    assert seen[-1] > 100  # they did resolve, four candles later


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="min_events"):
        MetaFilterConfig(horizon=4, round_trip=RT, min_events=5)
    with pytest.raises(ValueError, match="without stop"):
        intent = TradeIntent("BTCUSDT", T0, TradeAction.EXIT, Side.SELL, 100.0, "T", "", 0.1)
        _filter().assess(intent, ROW, open_time=T0, funding_rate=0.0)


def test_the_decision_path_records_the_rule_with_the_exits_its_entry_would_have() -> None:
    """``record_primary`` makes the event of the chosen strategy's rule with the stop and
    target its entry sets (``Strategy.decide`` when flat), in a position as well."""
    from types import SimpleNamespace
    from typing import cast

    from quantum_trader.decision.inputs import SymbolInputs
    from quantum_trader.decision.meta_labels import record_primary
    from quantum_trader.domain.policy import TradingPolicy
    from quantum_trader.domain.signals import Direction, Signal
    from quantum_trader.strategy.market_state import MarketState
    from quantum_trader.strategy.strategies import MeanReversion, StrategyConfig

    market = MarketState("BTCUSDT", T0 + MS_PER_HOUR, 95.0, 1.0, 105.0, 94.0, 100.0, 2.0)
    strategy, policy = MeanReversion(StrategyConfig(entry_rule="primary")), TradingPolicy()
    sym = cast(SymbolInputs, SimpleNamespace(last_row=ROW, last_funding_rate=0.0001))
    meta = _filter()
    record_primary(meta, sym, strategy, market, policy, MS_PER_HOUR)
    (event,) = meta._open["BTCUSDT"]
    intent = strategy.decide(Signal("BTCUSDT", T0, Direction.FLAT, 0.4, 0.0, ()), market, 0.0,
                             policy)  # fmt: skip
    assert intent is not None and intent.side is Side.BUY  # 2.5 sd below the mean
    assert (event.time, event.side, event.entry) == (T0, Side.BUY, 95.0)
    assert (event.stop, event.target) == (intent.stop_loss, intent.take_profit)
    assert event.funding_rate == 0.0001
    quiet = MarketState("BTCUSDT", T0 + 2 * MS_PER_HOUR, 100.0, 1.0, 105.0, 94.0, 100.0, 2.0)
    record_primary(meta, sym, strategy, quiet, policy, MS_PER_HOUR)  # the rule does not fire
    assert len(meta._open["BTCUSDT"]) == 1 and meta.stats.events == 1
