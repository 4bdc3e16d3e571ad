"""PolicySelector: greedy choice with its propensity and version, the HALTED mask, and the rule
fallback on no policy, a failing encoder or session, and non-finite probabilities."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_bundle import load_bundle
from quantum_trader.agents.policy_selector import (
    FALLBACK,
    MASK,
    POLICY,
    PolicyDecision,
    PolicySelector,
)
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.policy import RiskMode
from quantum_trader.domain.risk import TradingState
from quantum_trader.status.registry import ModuleHandle, StatusRegistry
from quantum_trader.strategy.regime import Regime
from quantum_trader.strategy.selector import (
    BREAKOUT,
    MEAN_REVERSION,
    NEUTRAL,
    STRATEGY_NAMES,
    TREND_FOLLOWING,
    RegimeRuleSelector,
    SelectionContext,
)
from tests.agents.bundles import SIZE, random_linear, scaling, store_linear_bundle

REGIMES = (Regime.BULL, Regime.BEAR, Regime.SIDEWAYS, Regime.VOLATILE)


def encode(context: SelectionContext) -> np.ndarray:
    """A test encoder: regime one-hot, volatility, confidence (the real one is
    agents/observation.py)."""
    onehot = [1.0 if context.regime is r else 0.0 for r in REGIMES]
    return np.array([*onehot, context.vol_percentile, context.confidence])


def _context(i: int, state: TradingState = TradingState.ACTIVE) -> SelectionContext:
    rng = np.random.default_rng(i)
    return SelectionContext(
        "BTCUSDT",
        3_600_000 * i,
        REGIMES[i % 4],
        None,
        float(rng.uniform()),
        float(rng.uniform()),
        0.0,
        RiskMode.MODERATE,
        state,
    )


def _handle() -> ModuleHandle:
    return StatusRegistry(SimulatedClock(0)).register(
        "rl_meta_strategy", enabled=True, reason="test"
    )


@pytest.fixture
def policy(tmp_path: Path) -> OnnxPolicy:
    store, digest = store_linear_bundle(tmp_path, *random_linear(11), normalisation=scaling())
    return OnnxPolicy(load_bundle(store, digest), registry_version=2)


def test_greedy_choice_logs_its_propensity_and_version(policy: OnnxPolicy) -> None:
    handle, log = _handle(), []
    selector = PolicySelector(policy, encode, handle=handle, on_decision=log.append)
    chosen = set()
    for i in range(40):
        context = _context(i)
        choice = selector.select(context)
        probs = policy.probabilities(encode(context))
        best = int(np.argmax(probs))
        assert choice.strategy == STRATEGY_NAMES[best]
        assert choice.selector == "ppo_selector"
        decision = log[-1]
        assert decision == selector.last_decision
        assert (decision.decided_by, decision.policy_version) == (POLICY, "ppo_selector@2")
        assert decision.propensity == pytest.approx(probs[best])
        assert decision.probabilities == pytest.approx(tuple(probs))
        chosen.add(choice.strategy)
    assert len(chosen) > 1  # the choice follows the observation, not a constant
    assert handle.status.counters["decided_by_policy"] == 40
    assert "decided_by_fallback" not in handle.status.counters


def test_halted_allows_only_neutral(policy: OnnxPolicy) -> None:
    handle = _handle()
    selector = PolicySelector(policy, encode, handle=handle)
    for i in range(12):
        choice = selector.select(_context(i, TradingState.HALTED))
        assert choice.strategy == NEUTRAL
        decision = selector.last_decision
        assert decision is not None
        assert (decision.decided_by, decision.propensity) == (MASK, 1.0)
    # REDUCING is not masked: the policy still decides
    assert selector.select(_context(1, TradingState.REDUCING)).selector == "ppo_selector"
    assert handle.status.counters["decided_by_mask"] == 12
    assert handle.status.counters["selected_Neutral"] >= 12


def _assert_fell_back(selector: PolicySelector, context: SelectionContext, why: str) -> None:
    choice = selector.select(context)
    assert choice.strategy == RegimeRuleSelector().select(context).strategy
    assert choice.selector == "regime_rules"
    decision = selector.last_decision
    assert isinstance(decision, PolicyDecision)
    assert (decision.decided_by, decision.policy_version) == (FALLBACK, "regime_rules")
    assert why in decision.reason


def test_no_policy_falls_back_until_one_is_served(policy: OnnxPolicy) -> None:
    handle = _handle()
    selector = PolicySelector(None, encode, handle=handle)
    _assert_fell_back(selector, _context(0), "no policy in production")
    selector.replace(policy)
    assert selector.select(_context(0)).selector == "ppo_selector"
    assert handle.status.counters["fallback_no_policy"] == 1
    assert handle.status.counters["decided_by_fallback"] == 1
    assert handle.status.counters["decided_by_policy"] == 1


def test_a_failing_encoder_or_a_wrong_observation_falls_back(policy: OnnxPolicy) -> None:
    handle = _handle()

    def broken(context: SelectionContext) -> np.ndarray:
        raise RuntimeError("encoder lost its state")

    _assert_fell_back(PolicySelector(policy, broken, handle=handle), _context(1), "lost its state")
    short = PolicySelector(policy, lambda c: encode(c)[:-1], handle=handle)
    _assert_fell_back(short, _context(2), f"takes {SIZE} values")
    assert handle.status.counters["fallback_error"] == 2
    assert short.last_failure is not None


def test_non_finite_probabilities_fall_back(tmp_path: Path) -> None:
    weights, bias = random_linear(12)
    weights[0, 0] = np.nan
    store, digest = store_linear_bundle(tmp_path, weights, bias)
    handle = _handle()
    selector = PolicySelector(OnnxPolicy(load_bundle(store, digest)), encode, handle=handle)
    _assert_fell_back(selector, _context(3), "non-finite probabilities")
    # a NaN in the observation (an encoder's bug) is caught the same way
    good = OnnxPolicy(load_bundle(*store_linear_bundle(tmp_path / "b", *random_linear(13))))
    nan_in = PolicySelector(good, lambda c: np.full(SIZE, np.nan), handle=handle)
    _assert_fell_back(nan_in, _context(4), "non-finite probabilities")
    assert handle.status.counters["fallback_non_finite"] == 2


def test_a_policy_must_choose_among_the_strategies(tmp_path: Path) -> None:
    store, digest = store_linear_bundle(
        tmp_path, *random_linear(14), actions=("Long", "Short", "Flat", NEUTRAL)
    )
    with pytest.raises(ValueError, match=r"actions \['Long'.*must be among"):
        PolicySelector(OnnxPolicy(load_bundle(store, digest)), encode)
    no_neutral = (TREND_FOLLOWING, MEAN_REVERSION, BREAKOUT)
    store2, digest2 = store_linear_bundle(
        tmp_path / "b", *random_linear(15, n_actions=3), actions=no_neutral
    )
    with pytest.raises(ValueError, match="include Neutral"):
        PolicySelector(OnnxPolicy(load_bundle(store2, digest2)), encode)


def test_context_without_a_trading_state_reads_active() -> None:
    context = SelectionContext("X", 0, None, None, 0.5, 0.5, 0.0, RiskMode.MODERATE)
    assert context.trading_state is TradingState.ACTIVE
    assert replace(context, trading_state=TradingState.HALTED).trading_state is TradingState.HALTED
