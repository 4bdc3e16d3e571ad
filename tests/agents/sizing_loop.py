"""The RL sizer's learnability setting: the entries the rule selector's strategies take on the
synthetic regimes of ``strategy_loop.py`` (read-only here), and a contextual-bandit sizing
environment over them.

**Entries.** :func:`entries` runs the strategy loop with :class:`RegimeRuleSelector` choosing
the strategy (the rule selector stays fixed: only the size is learnt) and records the
:class:`SelectionContext` of every decision. Each closed trade is paired with the context of
the decision that opened it (its ``DecisionRef``) and rebuilt as the :class:`SizingRequest` the
pipeline would have handed its sizer: the trade's strategy and side, the entry price, the stop
at the policy's ``stop_loss_pct`` (as every strategy sets it), equity 10,000. Its outcome is the
trade's net return on its notional (fees included).

**Environment.** One step = one entry: the observation is :func:`sizing_observation` of the
request (``agents/sizing_observation.py``, the served encoder), the action a fraction level
(``FRACTION_LEVELS``), the reward ``f × net return × REWARD_SCALE`` (percent of the base
notional: the PnL of the sized trade over the base sizer's notional). An episode is
``episode_length`` entries drawn at random (seeded) from the run. In the loop a trade's path
does not depend on its size (the loop trades a fixed notional and the stand-in signal ignores
the account), so each entry's reward is known whatever ``f``: a contextual bandit, and PPO is
trained with ``gamma = 0``. What the loop skips (the risk engine, funding, the account's
drawdown feeding back into the state) is said in ``strategy_loop.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from quantum_trader.agents.rl_sizer import FRACTION_LEVELS
from quantum_trader.agents.sizing_observation import sizing_observation
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.rl.sizing_env import sizing_spaces
from quantum_trader.strategy.intents import TradeAction, TradeIntent
from quantum_trader.strategy.selector import (
    RegimeRuleSelector,
    SelectionContext,
    StrategyChoice,
)
from quantum_trader.strategy.sizing import SizingRequest
from tests.agents import strategy_loop as loop

EQUITY = 10_000.0
#: rewards in percent of the base notional (a trade's net return is a few tenths of a percent)
REWARD_SCALE = 100.0


@dataclass(frozen=True, slots=True)
class Entry:
    regime: str  # the true regime at the opening decision
    request: SizingRequest
    net_return: float  # the trade's net PnL over its notional


class _Recording:
    """The rule selector, keeping the context of every decision by its decision id."""

    name = "regime_rules"

    def __init__(self) -> None:
        self.rules = RegimeRuleSelector()
        self.contexts: dict[str, SelectionContext] = {}

    def select(self, context: SelectionContext) -> StrategyChoice:
        self.contexts[f"{context.symbol}@{context.time}"] = context
        return self.rules.select(context)


def entries(seed: int, candles: int) -> list[Entry]:
    """Every trade of the rule selector's strategies on ``loop.market(seed, candles)``."""
    selector = _Recording()
    result = loop.run(loop.market(seed, candles), selector, seed=seed)
    policy, out = TradingPolicy(), []
    for regime, trade in result.trades:
        assert trade.decision is not None
        ctx = selector.contexts[trade.decision.decision_id]
        price, sign = trade.entry_price, trade.side.sign
        stop = price * policy.stop_loss_pct
        intent = TradeIntent(trade.symbol, ctx.time, TradeAction.ENTRY, trade.side, price,
                             trade.strategy, "", ctx.confidence, price - sign * stop,
                             price + 2 * sign * stop)  # fmt: skip
        request = SizingRequest(intent, EQUITY, policy, 0.0, ctx)
        out.append(Entry(regime, request, trade.net_pnl / (trade.quantity * trade.entry_price)))
    return out


class SizingBanditEnv(gym.Env[npt.NDArray[np.float32], np.int64]):
    """One step per entry; reward ``FRACTION_LEVELS[action] × net return × REWARD_SCALE``."""

    def __init__(self, run: list[Entry], episode_length: int = 64) -> None:
        observations, actions = sizing_spaces()  # the engine environment's spaces
        self.observation_space: gym.spaces.Box = observations  # type: ignore[assignment]
        self.action_space: gym.spaces.Discrete = actions
        self._obs = np.stack([sizing_observation(e.request) for e in run])
        self._returns = np.array([e.net_return for e in run])
        self._length = episode_length
        self._order = np.zeros(episode_length, dtype=np.int64)
        self._t = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        super().reset(seed=seed)
        self._order = self.np_random.integers(0, len(self._returns), self._length)
        self._t = 0
        return self._obs[self._order[0]], {}

    def step(
        self, action: np.int64 | int
    ) -> tuple[npt.NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        i = self._order[self._t]
        reward = FRACTION_LEVELS[int(action)] * float(self._returns[i]) * REWARD_SCALE
        self._t += 1
        done = self._t == self._length
        obs = self._obs[self._order[self._t if not done else 0]]
        return obs, reward, done, False, {}
