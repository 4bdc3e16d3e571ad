"""The RL sizer's environment over the engine: gymnasium's checker, the decision path it drives
(the pipeline asks the environment's sizer exactly the predicted request, and sends
``f × the fixed-fractional quantity`` to the risk engine), f = 0 in REDUCING and HALTED, and the
reward it documents (the account's equity change)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

from quantum_trader.agents.rl_sizer import FRACTION_LEVELS
from quantum_trader.agents.sizing_observation import sizing_observation
from quantum_trader.domain.risk import TradingState
from quantum_trader.risk.config import RiskConfig
from quantum_trader.rl.sizing_env import ActionSizer, PositionSizingEnv
from quantum_trader.strategy.sizing import FixedFractionalSizer
from tests.agents.sizing_helpers import request
from tests.rl.helpers import TRAIN_CANDLES, env_config, market, members


def _frame() -> pd.DataFrame:
    return market().iloc[TRAIN_CANDLES:].reset_index(drop=True)


def _env(**changes: object) -> PositionSizingEnv:
    return PositionSizingEnv(env_config(**changes), _frame(), members())


def test_gymnasiums_checker_passes() -> None:
    check_env(_env(episode_candles=240), skip_render_check=True)


def test_each_step_sizes_one_entry_at_the_chosen_fraction_and_rewards_the_equity_change() -> None:
    env = _env(episode_candles=480)
    obs, info = env.reset(seed=5)
    start_equity, total, steps, sized, placed = info["equity"], 0.0, 0, [], 0
    rng = np.random.default_rng(5)
    done = False
    while not done:
        req = env.request
        assert np.array_equal(obs, sizing_observation(req))  # the served sizer's observation
        base = FixedFractionalSizer().size(req).quantity
        action = int(rng.integers(len(FRACTION_LEVELS)))
        known = set(env.session.orders.orders)
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        steps += 1
        done = terminated or truncated
        assert info["fraction"] == (0.0 if info["forced_zero"] else FRACTION_LEVELS[action])
        if info["sized"]:
            sized.append((info["fraction"], base))
            entries = [  # the entry this step sized (an order the environment's sizer sized)
                o
                for k, o in env.session.orders.orders.items()
                if k not in known
                and not o.reduce_only  # its bracket's stop and target orders are reduce-only
                and o.decision is not None
                and o.decision.sizer == ActionSizer.name
            ]
            # f = 0: no order; else at most one (the risk engine may reject it)
            assert len(entries) <= (1 if info["fraction"] > 0 else 0)
            placed += len(entries)
            for order in entries:  # floored to the step, perhaps trimmed by the risk engine
                assert 0 < order.quantity <= info["fraction"] * base + 1e-12
    assert steps >= 5 and len(sized) >= 5 and placed >= 3, (steps, len(sized), placed)
    cfg = env.config
    want = (info["equity"] - start_equity) / cfg.initial_balance * cfg.reward_scale
    assert total == pytest.approx(want, abs=1e-9)


def test_f_is_zero_while_reducing_or_halted() -> None:
    # a drawdown limit so tight that the first losses move the account to REDUCING
    risk = RiskConfig(drawdown_reducing=0.0005, drawdown_resume=0.0001, drawdown_halted=0.3)
    parts = env_config().parts
    env = _env(episode_candles=480, parts=type(parts)(parts.ensemble, risk=risk))
    env.reset(seed=2)
    forced, done = 0, False
    while not done:
        state = env.request.selection.trading_state if env.request.selection else None
        _, _, _, done, info = env.step(len(FRACTION_LEVELS) - 1)  # always ask for f = 1
        assert info["forced_zero"] == (state is not TradingState.ACTIVE)
        forced += info["forced_zero"]
        if info["forced_zero"]:
            assert info["fraction"] == 0.0
    assert forced > 0


def test_the_action_sizer_refuses_a_request_it_was_not_armed_for() -> None:
    sizer = ActionSizer()
    with pytest.raises(RuntimeError, match="no action set"):
        sizer.size(request())
    sizer.arm(0.5, request(equity=20_000.0))
    with pytest.raises(RuntimeError, match="did not expect"):
        sizer.size(request())
    sizer.arm(0.5, request())
    assert sizer.size(request()).quantity == 25.0 and sizer.asked
