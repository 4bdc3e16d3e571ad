"""The entry cost gate: an entry passes only when its expected edge covers the costs."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.orders import Side
from quantum_trader.domain.signals import Direction, ModelVote, Signal
from quantum_trader.strategy.cost_gate import EntryCostConfig, EntryCostGate, ensemble_probabilities

DEAD_ZONE = 0.001


def _gate(margin_bps: float = 5.0, **kw: float) -> EntryCostGate:
    config = EntryCostConfig(
        taker_fee=0.0005, slippage_bps=1.0, horizon_hours=4, margin_bps=margin_bps, **kw
    )  # type: ignore[arg-type]
    return EntryCostGate(config, DEAD_ZONE)


def _signal(p_down: float, p_flat: float, p_up: float, symbol: str = "BTCUSDT") -> Signal:
    votes = (ModelVote("a", p_down, p_flat, p_up),)
    return Signal(symbol, 0, Direction.UP, p_up, max(p_up - p_down, 0.0), votes)


def _feed(gate: EntryCostGate, moves: np.ndarray, symbol: str = "BTCUSDT") -> None:
    for r in moves:
        gate.observe(symbol, float(r))


def test_round_trip_is_both_sides_fee_and_slippage() -> None:
    assert _gate().config.round_trip == pytest.approx(2 * (0.0005 + 0.0001))


def test_refuses_until_every_outcome_class_has_enough_known_moves() -> None:
    gate = _gate()
    _feed(gate, np.full(100, 0.01))  # only UP outcomes so far
    verdict = gate.assess(_signal(0.0, 0.0, 1.0), Side.BUY, funding_rate=0.0)
    assert not verdict.passed and "too few" in verdict.reason
    assert gate.rejected == 1


def test_class_means_are_the_mean_move_of_each_outcome() -> None:
    gate = _gate()
    _feed(gate, np.array([0.02] * 30 + [-0.03] * 30 + [0.0005] * 30))
    assert gate.class_means("BTCUSDT") == pytest.approx((-0.03, 0.0005, 0.02))


def test_a_confident_signal_with_large_moves_passes_a_prior_like_one_does_not() -> None:
    gate = _gate()
    rng = np.random.default_rng(0)
    _feed(gate, rng.normal(0.0, 0.01, 700))
    sure = gate.assess(_signal(0.05, 0.05, 0.9), Side.BUY, funding_rate=0.0)
    assert sure.passed and sure.edge > sure.cost
    # probabilities at the class prior: the edge is the drift, far below a round trip
    prior = gate.assess(_signal(0.45, 0.1, 0.45), Side.BUY, funding_rate=0.0)
    assert not prior.passed
    assert abs(prior.edge) < prior.cost


def test_the_side_matters_a_long_signal_never_prices_a_short() -> None:
    gate = _gate()
    _feed(gate, np.random.default_rng(1).normal(0.0, 0.01, 700))
    long_edge = gate.assess(_signal(0.05, 0.05, 0.9), Side.BUY, funding_rate=0.0).edge
    short = gate.assess(_signal(0.05, 0.05, 0.9), Side.SELL, funding_rate=0.0)
    assert short.edge == pytest.approx(-long_edge) and not short.passed


def test_funding_paid_is_a_cost_funding_received_is_not_counted() -> None:
    gate = _gate()
    _feed(gate, np.random.default_rng(2).normal(0.0, 0.01, 700))
    signal = _signal(0.05, 0.05, 0.9)
    free = gate.assess(signal, Side.BUY, funding_rate=0.0).cost
    paying = gate.assess(signal, Side.BUY, funding_rate=0.001).cost
    assert paying == pytest.approx(free + 0.001 * 4 / 8)  # half a funding interval of 8 h
    assert gate.assess(_signal(0.9, 0.05, 0.05), Side.SELL, funding_rate=0.001).cost == free


def test_the_margin_is_demanded_on_top_of_the_costs() -> None:
    moves = np.random.default_rng(3).normal(0.0, 0.01, 700)
    loose, strict = _gate(margin_bps=0.0), _gate(margin_bps=10_000.0)
    _feed(loose, moves)
    _feed(strict, moves)
    signal = _signal(0.05, 0.05, 0.9)
    assert loose.assess(signal, Side.BUY, funding_rate=0.0).passed
    assert not strict.assess(signal, Side.BUY, funding_rate=0.0).passed


def test_symbols_keep_their_own_moves() -> None:
    gate = _gate()
    _feed(gate, np.random.default_rng(4).normal(0.0, 0.01, 700), "BTCUSDT")
    assert gate.class_means("ETHUSDT") is None
    assert not gate.assess(_signal(0.05, 0.05, 0.9, "ETHUSDT"), Side.BUY, funding_rate=0.0).passed


def test_ensemble_probabilities_are_the_weighted_soft_vote() -> None:
    votes = (ModelVote("a", 0.2, 0.2, 0.6, 3.0), ModelVote("b", 0.6, 0.2, 0.2, 1.0))
    signal = Signal("BTCUSDT", 0, Direction.UP, 0.5, 0.1, votes)
    assert ensemble_probabilities(signal) == pytest.approx((0.3, 0.2, 0.5))


def test_config_refuses_a_window_too_small_for_its_classes() -> None:
    with pytest.raises(DomainValidationError):
        EntryCostConfig(taker_fee=0.0005, slippage_bps=1.0, horizon_hours=4, window=10)
