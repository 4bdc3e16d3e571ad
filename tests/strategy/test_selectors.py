"""The baseline selectors of the system evaluation, and every QT_SELECTOR has its selector."""

from __future__ import annotations

import typing
from collections import Counter

import pytest

from quantum_trader.app.compose import SELECTORS
from quantum_trader.config.settings import Settings, load_settings
from quantum_trader.domain.policy import RiskMode
from quantum_trader.strategy.regime import Regime
from quantum_trader.strategy.selector import (
    STRATEGY_NAMES,
    FixedSelector,
    RandomSelector,
    SelectionContext,
    selector_names,
)


def _ctx(
    time: int, symbol: str = "BTCUSDT", regime: Regime | None = Regime.BULL
) -> SelectionContext:
    return SelectionContext(symbol, time, regime, None, 0.5, 0.2, 0.0, RiskMode.MODERATE)


def test_fixed_selector_ignores_the_regime() -> None:
    sel = FixedSelector("Breakout")
    picks = {sel.select(_ctx(t, regime=r)).strategy for t, r in enumerate([*Regime, None])}
    assert picks == {"Breakout"} and sel.name == "fixed:Breakout"


def test_fixed_selector_refuses_an_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        FixedSelector("Martingale")


def test_random_selector_is_seeded_uniform_and_independent_of_other_state() -> None:
    a, b, c = RandomSelector(seed=1), RandomSelector(seed=1), RandomSelector(seed=2)
    times = range(0, 4000 * 3_600_000, 3_600_000)
    first = [a.select(_ctx(t)).strategy for t in times]
    assert first == [b.select(_ctx(t, regime=None)).strategy for t in times]
    assert first != [c.select(_ctx(t)).strategy for t in times]
    counts = Counter(first)
    assert set(counts) == set(STRATEGY_NAMES)
    assert all(800 < n < 1200 for n in counts.values())  # 1000 each expected


def test_every_selector_setting_has_a_selector() -> None:
    hint = typing.get_type_hints(Settings)["selector"]
    # "ppo": the learned selector (app/rl_serving.py puts its policy in front of the rules)
    assert set(typing.get_args(hint)) == set(SELECTORS) == {*selector_names(), "ppo"}
    settings = load_settings()
    for name, build in SELECTORS.items():
        assert build(settings, None).name == ("regime_rules" if name == "ppo" else name)
