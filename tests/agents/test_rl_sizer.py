"""RLSizer: a fraction of the base sizer's quantity from the policy, f = 0 in REDUCING and
HALTED, the base sizer on no policy, a failing encoder or session and non-finite probabilities,
and the status evidence (who decided, the mean fraction)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.policy_bundle import load_bundle
from quantum_trader.agents.rl_sizer import (
    FALLBACK,
    FORCED_ZERO,
    FRACTION_ACTIONS,
    FRACTION_LEVELS,
    POLICY,
    RLSizer,
    SizingDecision,
    fraction_of,
)
from quantum_trader.agents.sizing_observation import (
    SIZING_OBSERVATION_FIELDS,
    SIZING_OBSERVATION_SIZE,
    sizing_observation,
)
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.domain.orders import Side
from quantum_trader.domain.risk import TradingState
from quantum_trader.status.registry import ModuleHandle, StatusRegistry
from quantum_trader.strategy.intents import TradeAction
from quantum_trader.strategy.regime import Regime
from quantum_trader.strategy.sizing import (
    FixedFractionalSizer,
    SizingRequest,
    VolatilityTargetSizer,
)
from tests.agents.bundles import random_linear, store_linear_bundle
from tests.agents.sizing_helpers import entry, favouring, request, sizing_policy


def _handle() -> ModuleHandle:
    return StatusRegistry(SimulatedClock(0)).register(
        "rl_position_sizing", enabled=True, reason="test"
    )


def test_the_policy_chooses_a_fraction_of_the_base_size(tmp_path: Path) -> None:
    handle, log = _handle(), list[SizingDecision]()
    policy = sizing_policy(tmp_path, 3)
    sizer = RLSizer(policy, sizing_observation, handle=handle, on_decision=log.append)
    base = FixedFractionalSizer()
    seen = set()
    for i, regime in enumerate([*Regime, None] * 6):
        req = request(entry(100.0 + i, side=Side.BUY if i % 2 else Side.SELL), regime=regime)
        result = sizer.size(req)
        decision = sizer.last_decision
        assert isinstance(decision, SizingDecision) and decision.decided_by == POLICY
        probs = policy.probabilities(sizing_observation(req))
        assert decision.fraction == FRACTION_LEVELS[int(np.argmax(probs))]  # greedy
        assert decision.propensity == pytest.approx(float(probs.max()))
        assert decision.base_quantity == base.size(req).quantity
        assert result.quantity == pytest.approx(decision.fraction * decision.base_quantity)
        assert result.sizer == "rl_sizer" and decision.policy_version == policy.version
        seen.add(decision.fraction)
    assert len(seen) >= 2, seen  # the policy's choice depends on the observation
    assert handle.status.counters["decided_by_policy"] == 30 == len(log)
    mean = sum(d.fraction for d in log) / len(log)
    assert sizer.mean_fraction == pytest.approx(mean)
    assert handle.status.counters["mean_fraction_bp"] == round(mean * 10_000)


@pytest.mark.parametrize("state", [TradingState.REDUCING, TradingState.HALTED])
def test_f_is_zero_in_reducing_and_halted(tmp_path: Path, state: TradingState) -> None:
    handle = _handle()
    sizer = RLSizer(favouring(tmp_path, 4), sizing_observation, handle=handle)  # always f = 1
    assert sizer.size(request()).quantity == FixedFractionalSizer().size(request()).quantity
    result = sizer.size(request(state=state))
    assert result.quantity == 0.0 and state.value in result.reason
    assert sizer.last_decision is not None and sizer.last_decision.decided_by == FORCED_ZERO
    # with no policy the fallback sizes as it would alone (the module changes nothing then)
    no_policy = RLSizer(None, sizing_observation, handle=handle)
    alone = FixedFractionalSizer().size(request(state=state)).quantity
    assert no_policy.size(request(state=state)).quantity == alone > 0
    assert handle.status.counters["decided_by_forced_zero"] == 1
    assert sizer.mean_fraction == 0.5


def _assert_fell_back(sizer: RLSizer, req: SizingRequest, why: str, sizer_name: str) -> None:
    result = sizer.size(req)
    decision = sizer.last_decision
    assert decision is not None and decision.decided_by == FALLBACK
    assert decision.policy_version == sizer_name and why in decision.reason
    assert decision.fraction == 1.0 and result.quantity == decision.base_quantity


def test_no_policy_falls_back_to_the_base_until_one_is_served(tmp_path: Path) -> None:
    handle = _handle()
    sizer = RLSizer(None, sizing_observation, handle=handle)
    _assert_fell_back(sizer, request(), "no policy in production", "fixed_fractional")
    assert sizer.size(request()).quantity == 50.0  # 1 % of 10k over a stop 2 away
    sizer.replace(favouring(tmp_path, 1))
    assert sizer.size(request()).quantity == 12.5  # f = 0.25 of 50
    assert handle.status.counters["fallback_no_policy"] == 2
    assert handle.status.counters["decided_by_policy"] == 1
    vol = RLSizer(None, sizing_observation, fallback=VolatilityTargetSizer())
    _assert_fell_back(vol, replace(request(), volatility=0.01), "no policy", "volatility_target")


def test_a_failing_encoder_a_missing_context_or_a_wrong_size_falls_back(tmp_path: Path) -> None:
    handle, policy = _handle(), sizing_policy(tmp_path, 4)

    def broken(req: SizingRequest) -> np.ndarray:
        raise RuntimeError("encoder lost its state")

    _assert_fell_back(RLSizer(policy, broken, handle=handle), request(), "lost its state",
                      "fixed_fractional")  # fmt: skip
    sizer = RLSizer(policy, sizing_observation, handle=handle)
    _assert_fell_back(sizer, replace(request(), selection=None), "no selection context",
                      "fixed_fractional")  # fmt: skip
    short = RLSizer(policy, lambda r: sizing_observation(r)[:-1], handle=handle)
    _assert_fell_back(short, request(), f"takes {SIZING_OBSERVATION_SIZE} values",
                      "fixed_fractional")  # fmt: skip
    assert handle.status.counters["fallback_error"] == 3 and short.last_failure is not None


def test_non_finite_probabilities_fall_back(tmp_path: Path) -> None:
    weights, bias = random_linear(5, SIZING_OBSERVATION_SIZE, len(FRACTION_ACTIONS))
    weights[0, 0] = np.nan
    store, digest = store_linear_bundle(tmp_path, weights, bias, actions=FRACTION_ACTIONS)
    handle = _handle()
    sizer = RLSizer(OnnxPolicy(load_bundle(store, digest)), sizing_observation, handle=handle)
    _assert_fell_back(sizer, request(regime=Regime.BULL), "non-finite", "fixed_fractional")
    assert handle.status.counters["fallback_non_finite"] == 1


def test_a_sizing_policy_must_choose_among_fractions(tmp_path: Path) -> None:
    store, digest = store_linear_bundle(
        tmp_path, *random_linear(6, SIZING_OBSERVATION_SIZE, 4), actions=("f0", "f0.5", "f2", "x")
    )
    with pytest.raises(ValueError, match="fraction levels"):
        RLSizer(OnnxPolicy(load_bundle(store, digest)), sizing_observation)
    assert [fraction_of(a) for a in FRACTION_ACTIONS] == list(FRACTION_LEVELS)
    for bad in ("f-0.1", "f1.5", "fnan", "0.5"):
        with pytest.raises(ValueError):
            fraction_of(bad)


def test_exits_are_not_sized() -> None:
    exit_intent = replace(entry(), action=TradeAction.EXIT, stop_loss=None, take_profit=None)
    with pytest.raises(ValueError, match="only entries"):
        RLSizer(None, sizing_observation).size(request(exit_intent))


def test_the_observation_names_its_fields_and_refuses_non_finite_numbers() -> None:
    req = request(entry(side=Side.SELL, strategy="Breakout"), regime=None,
                  state=TradingState.REDUCING)  # fmt: skip
    named = dict(zip(SIZING_OBSERVATION_FIELDS, sizing_observation(req).tolist(), strict=True))
    assert named["regime_none"] == 1.0 and named["strategy_breakout"] == 1.0
    assert named["side"] == -1.0 and named["trading_state_reducing"] == 1.0
    assert named["stop_distance"] == pytest.approx(0.4)  # 2 % over the 5 % scale
    assert req.selection is not None
    bad = replace(req, selection=replace(req.selection, confidence=float("nan")))
    with pytest.raises(ValueError, match="confidence=nan is not finite"):
        sizing_observation(bad)


SERVE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from quantum_trader.agents.rl_sizer import RLSizer
    from quantum_trader.agents.sizing_observation import sizing_observation
    from tests.agents.sizing_helpers import entry, request, sizing_policy

    sizer = RLSizer(sizing_policy(Path(sys.argv[1]), 3), sizing_observation)
    quantities = [sizer.size(request(entry(100.0 + i))).quantity for i in range(50)]
    print(json.dumps({
        "quantities": quantities,
        "loaded": sorted(m for m in ("torch", "stable_baselines3") if m in sys.modules),
    }))
    """
)


def test_serving_the_rl_sizer_never_imports_torch(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}
    result = subprocess.run([sys.executable, "-c", SERVE, str(tmp_path / "a")], capture_output=True,
                            text=True, env=env, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    served = json.loads(result.stdout)
    assert served["loaded"] == []
    here = RLSizer(sizing_policy(tmp_path / "b", 3), sizing_observation)
    assert served["quantities"] == [
        here.size(request(entry(100.0 + i))).quantity for i in range(50)
    ]
