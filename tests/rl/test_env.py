"""The strategy selector's environment: gymnasium's checker, the reward it documents (net of fees
and funding, equal to the account's equity change) on random trades, the decision path it
drives, masking while HALTED, and bad input."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

from quantum_trader.agents.observation import selector_observation
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.decision.inputs import PipelineConfig
from quantum_trader.decision.pipeline import DecisionPipeline
from quantum_trader.domain.positions import Trade
from quantum_trader.domain.risk import TradingState
from quantum_trader.engine.session import SessionConfig, TradingSession
from quantum_trader.execution.instruments import BINANCE_USDM
from quantum_trader.risk.config import RiskConfig
from quantum_trader.rl.env import StrategySelectionEnv
from quantum_trader.rl.parts import ENV_SELECTOR, env_parts
from quantum_trader.strategy.selector import NEUTRAL, STRATEGY_NAMES, RegimeRuleSelector
from tests.rl.helpers import SYMBOL, TRAIN_CANDLES, env_config, market, members


def _frame() -> pd.DataFrame:
    return market().iloc[TRAIN_CANDLES:].reset_index(drop=True)


def _env(**changes: object) -> StrategySelectionEnv:
    return StrategySelectionEnv(env_config(**changes), _frame(), members())


def test_gymnasiums_checker_passes() -> None:
    env = _env()
    check_env(env, skip_render_check=True)
    env.close()


def test_random_trades_get_the_documented_reward_net_of_fees_and_funding() -> None:
    scale = 100.0
    env = _env(episode_candles=240, reward_scale=scale)
    rng = np.random.default_rng(11)
    for seed in (1, 2):
        env.reset(seed=seed)
        portfolio = env.session.portfolio
        closed: list[Trade] = []
        portfolio.trade_listeners.append(closed.append)
        initial = env.config.initial_balance
        equities, rewards, flat, net = [portfolio.equity], [], [True], [0.0]
        truncated = False
        while not truncated:
            obs, reward, terminated, truncated, info = env.step(rng.integers(len(STRATEGY_NAMES)))
            assert not terminated and env.observation_space.contains(obs)
            rewards.append(reward)
            equities.append(portfolio.equity)
            flat.append(portfolio.quantity(SYMBOL) == 0.0)
            net.append(sum(t.net_pnl for t in closed))
        # each step: the equity change from this decision to the next over the initial balance
        expected = np.diff(equities) / initial * scale
        assert np.array_equal(np.asarray(rewards), expected)
        assert sum(rewards) == pytest.approx((portfolio.equity - initial) / initial * scale)
        # the equity is the ledger's: every fee, funding payment and realised PnL booked
        booked = initial + portfolio.realized_pnl - portfolio.fees_paid - portfolio.funding_paid
        assert portfolio.equity == pytest.approx(booked + portfolio.unrealized_pnl, abs=1e-6)
        # potential-based: from flat to flat, the rewards add up to the closed trades' net PnL
        # (price PnL less entry and exit fees and funding), whatever happened in between
        stops = [i for i, is_flat in enumerate(flat) if is_flat]
        checked = 0
        for a, b in itertools.pairwise(stops):
            if net[b] != net[a]:
                got = sum(rewards[a:b]) * initial / scale
                assert got == pytest.approx(net[b] - net[a], abs=1e-6)
                checked += 1
        # ... and the random trades really paid fees and funding
        assert checked >= 3 and portfolio.fees_paid > 0 and portfolio.funding_paid != 0.0
        assert info["equity"] == portfolio.equity


def test_the_environment_drives_the_decision_path_and_its_actions_are_the_strategies() -> None:
    env = _env(episode_candles=240)
    env.reset(seed=1)
    pipeline = env.session.trader.pipeline  # type: ignore[attr-defined]
    trader = env.session.trader
    rng = np.random.default_rng(5)
    chosen = []
    truncated = False
    while not truncated:
        pending = trader.pending  # type: ignore[attr-defined]
        assert pending is not None and pending.selection is not None
        action = int(rng.integers(len(STRATEGY_NAMES)))
        truncated = env.step(action)[3]
        chosen.append(STRATEGY_NAMES[action])
    counts = {s: chosen.count(s) for s in STRATEGY_NAMES}
    assert pipeline.stats.strategies == counts  # the pipeline chose what the agent did
    orders = list(env.session.orders.orders.values())
    assert orders, "some decisions led to orders"
    assert all(o.decision is not None and o.decision.selector == ENV_SELECTOR for o in orders)
    # every market order the pipeline sent went through the risk engine first
    assert 0 < pipeline.stats.orders <= sum(pipeline.stats.risk.values())


def test_the_observation_is_the_pipelines_selection_context() -> None:
    env = _env()
    obs, _ = env.reset(seed=4)
    pending = env.session.trader.pending  # type: ignore[attr-defined]
    assert np.array_equal(obs, selector_observation(pending.selection))
    assert pending.selection.equity == env.config.initial_balance


def test_only_neutral_is_allowed_while_halted() -> None:
    # a breaker that halts at a 0.2 % drawdown: a few random trades get there
    risk = RiskConfig(drawdown_reducing=0.001, drawdown_resume=0.0005, drawdown_halted=0.002)
    parts = replace(env_config().parts, risk=risk)
    env = _env(episode_candles=240, parts=parts)
    env.reset(seed=1)
    rng = np.random.default_rng(3)
    assert env.action_masks().all()
    engine = env.session.trader.pipeline.parts.risk  # type: ignore[attr-defined]
    while engine.state is not TradingState.HALTED:
        assert env.action_masks().all()
        assert not env.step(int(rng.integers(3)))[3], "the account never halted"
    env.step(0)  # the decision open when it halted saw the state before
    assert env.action_masks().tolist() == [s == NEUTRAL for s in STRATEGY_NAMES]
    *_, info = env.step(STRATEGY_NAMES.index("TrendFollowing"))
    assert info["forced_neutral"] and info["strategy"] == NEUTRAL
    *_, info = env.step(STRATEGY_NAMES.index(NEUTRAL))
    assert not info["forced_neutral"] and info["strategy"] == NEUTRAL


def test_the_same_seed_gives_the_same_episode() -> None:
    def episode(seed: int) -> list[float]:
        env = _env()
        env.reset(seed=seed)
        rng = np.random.default_rng(0)
        return [env.step(rng.integers(4))[1] for _ in range(60)]

    assert episode(7) == episode(7)


def test_bad_input_is_refused_with_what_and_where() -> None:
    with pytest.raises(ValueError, match="an episode needs"):
        StrategySelectionEnv(env_config(), _frame().head(100), members())
    env = _env()
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(0)
    env.reset(seed=1)
    with pytest.raises(ValueError, match=r"outside 0\.\.3"):
        env.step(4)
    with pytest.raises(ValueError, match="episode start"):
        env.reset(options={"start": 5})


def test_an_episode_is_the_replay_of_the_same_choices_through_a_trading_session() -> None:
    """One code path: the environment answering the rule selector's choices gives the equity
    curve and trades of an ordinary session replay of the rule selector on the same window."""
    config = env_config(episode_candles=240)
    frame, start = _frame(), 400
    env = StrategySelectionEnv(config, frame, members())
    env.reset(options={"start": start})
    trades: list[Trade] = []
    env.session.portfolio.trade_listeners.append(trades.append)
    rules = RegimeRuleSelector()
    truncated = False
    while not truncated:
        pending = env.session.trader.pending  # type: ignore[attr-defined]
        choice = rules.select(pending.selection).strategy
        truncated = env.step(STRATEGY_NAMES.index(choice))[3]
    ours = env.session.portfolio

    window = frame.iloc[start : start + config.episode_candles]
    clock = SimulatedClock(int(window["open_time"].iloc[0]))
    pipeline = DecisionPipeline(
        PipelineConfig(config.timeframe, labels=config.labels),
        env_parts(config.parts, {SYMBOL: members()}, RegimeRuleSelector(), clock),
        symbols=[SYMBOL],
    )
    spec = replace(BINANCE_USDM["BTCUSDT"], symbol=SYMBOL)
    session = TradingSession(
        SessionConfig(config.timeframe, commit_on_change=False),
        {SYMBOL: window},
        pipeline,
        specs={SYMBOL: spec},
        clock=clock,
    )
    pipeline.warm_up({SYMBOL: frame.iloc[start - config.warm_up_candles : start]})
    pipeline.prepare_replay(env._bars[start : start + config.episode_candles], background=False)
    result = session.run()
    pipeline.close()
    assert len(result.trades) >= 2
    assert ours.equity_values == result.equity_values
    assert [(t.entry_time, t.exit_time, t.net_pnl) for t in trades] == [
        (t.entry_time, t.exit_time, t.net_pnl) for t in result.trades
    ]
