"""A gymnasium environment over the strategy loop (``strategy_loop.py``), for the PPO selector's
learnability test: the synthetic markets whose best strategy per regime is known by
construction, stepped one decision at a time.

**Episode.** One symbol, ``episode_candles`` candles of a fresh synthetic market
(``strategy_loop.market``) whose seed is drawn from the environment's seeded generator at each
reset, in ``[MARKET_SEEDS_FROM, 2**31)``: a training run never meets the held-out or validation
markets (small seeds). The loop runs from the market's first candle (its warm-up included); the
episode ends (``truncated``) after the last candle's decision.

**Observation**: ``agents/observation.py`` ``selector_observation`` of :meth:`Books.context`:
the loop's :class:`SelectionContext` (true regime, volatility percentile, the stand-in signal's
confidence, MODERATE, ACTIVE) with the account fields a served policy reads filled from the
symbol's own book: each symbol trades a sub-account of :data:`ACCOUNT` (= the loop's fixed
notional, so an open position reads ±1/3 after ``POSITION_SCALE``), its equity the account plus
its closed trades' net PnL plus the open position at the close, its drawdown from its peak, and
``recent_pnl`` its own trades' net PnL closed in the last 24 hours (the loop's is the whole
account's: on a four-symbol held-out run that would be four books' PnL over one book's equity).
The held-out measurement builds its contexts with the same function, so training and serving
see the same fields.

**Action**: ``Discrete(4)``, an index into ``STRATEGY_NAMES``. No HALTED state exists here.

**Reward** (:data:`REWARD_VERSION`): the change of the symbol's equity from this decision to
the next (mark to market at the candle's close, net of both fees: an entry's taker fee is in the
equity as soon as it fills), over the notional, times ``reward_scale``::

    r_t = (E_{t+1} - E_t) / NOTIONAL * reward_scale

It is the engine environment's reward (``rl/env.py``, ``equity-delta-1``: equity delta marked at
the close, over the initial balance, times 100) with the fixed notional in place of the initial
balance — the loop has no balance, sizer or risk engine — and without slippage or funding, which
the loop does not simulate. As there, an episode's rewards sum to the equity change over it, and
from flat to flat to the closed trades' net PnL.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from quantum_trader.agents.observation import selector_observation
from quantum_trader.domain.positions import Trade
from quantum_trader.rl.env import selector_spaces
from quantum_trader.strategy.selector import STRATEGY_NAMES, SelectionContext
from tests.agents import strategy_loop as loop

REWARD_VERSION = "loop-equity-delta-1"
ENV_VERSION = "strategy-loop-env-1"
#: each symbol's sub-account (USDT): the loop's fixed notional, i.e. 1× when a position is open
ACCOUNT = loop.NOTIONAL
#: market seeds of training episodes are drawn from here up (held-out and validation seeds are
#: below it)
MARKET_SEEDS_FROM = 1_000
_DAY_MS = 24 * 3_600_000


class Books:
    """Each symbol's sub-account over a :class:`~strategy_loop.Loop`: peak equity and the net
    PnL of its trades closed in the last 24 hours (fed by the loop's ``on_trade``)."""

    def __init__(self) -> None:
        self.peak: dict[str, float] = {}
        self.recent: dict[str, deque[tuple[int, float]]] = {}

    def on_trade(self, trade: Trade) -> None:
        self.recent.setdefault(trade.symbol, deque()).append((trade.exit_time, trade.net_pnl))

    def context(self, lp: loop.Loop, ctx: SelectionContext) -> SelectionContext:
        """``ctx`` with the symbol's own sub-account: equity, position, drawdown, recent PnL."""
        mark = lp.mark(ctx.symbol)
        equity = ACCOUNT + mark.equity
        peak = self.peak[ctx.symbol] = max(self.peak.get(ctx.symbol, ACCOUNT), equity)
        recent = self.recent.setdefault(ctx.symbol, deque())
        while recent and recent[0][0] <= ctx.time - _DAY_MS:
            recent.popleft()
        return SelectionContext(ctx.symbol, ctx.time, ctx.regime, ctx.market_regime,
                                ctx.vol_percentile, ctx.confidence, sum(p for _, p in recent),
                                ctx.risk_mode, ctx.trading_state, equity, mark.position / equity,
                                1.0 - equity / peak)  # fmt: skip


class LoopEnv(gym.Env[npt.NDArray[np.float32], np.int64]):
    """See the module docstring."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium's own field

    def __init__(self, episode_candles: int = 2_000, reward_scale: float = 100.0) -> None:
        if episode_candles <= loop.WARMUP + 1:
            raise ValueError(f"LoopEnv: episode_candles={episode_candles} must be > warm-up + 1")
        self.episode_candles, self.reward_scale = episode_candles, reward_scale
        observations, actions = selector_spaces()
        self.observation_space: gym.spaces.Box = observations  # type: ignore[assignment]
        self.action_space: gym.spaces.Discrete = actions
        self.market_seed = -1
        self._loop: loop.Loop | None = None
        self._pending: Iterator[SelectionContext] = iter(())
        self._symbol = ""
        self._books = Books()
        self._ctx: SelectionContext | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        """A new episode on a market of ``options["market_seed"]`` or one drawn."""
        super().reset(seed=seed)
        drawn = int(self.np_random.integers(MARKET_SEEDS_FROM, 2**31))
        self.market_seed = int((options or {}).get("market_seed", drawn))
        series = loop.market(self.market_seed, self.episode_candles, symbols=1)
        self._symbol = series[0].symbol
        self._books = Books()
        self._loop = loop.Loop(series, "ppo_selector", self._books.on_trade, seed=self.market_seed)
        self._pending = self._loop.pending()
        self._ctx = next(self._pending)  # the warm-up always leaves decisions
        return self._observe(), {"market_seed": self.market_seed}

    def _observe(self) -> npt.NDArray[np.float32]:
        assert self._loop is not None and self._ctx is not None
        return selector_observation(self._books.context(self._loop, self._ctx))

    def equity(self) -> float:
        """The symbol's equity change since the episode began (USDT, marked at the close)."""
        assert self._loop is not None
        return self._loop.mark(self._symbol).equity

    def step(
        self, action: np.int64 | int
    ) -> tuple[npt.NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        if self._loop is None or self._ctx is None:
            raise RuntimeError("LoopEnv.step before reset() or after the episode's end")
        index = int(action)
        if not 0 <= index < len(STRATEGY_NAMES):
            raise ValueError(f"action {action!r} outside 0..{len(STRATEGY_NAMES) - 1}")
        done, regime = self._ctx, self._ctx.regime
        before = self.equity()
        self._loop.decide(STRATEGY_NAMES[index])
        self._ctx = next(self._pending, None)
        reward = (self.equity() - before) / loop.NOTIONAL * self.reward_scale
        info = {"regime": None if regime is None else regime.value}
        # after the episode's last decision the observation is its own, re-marked
        obs = selector_observation(self._books.context(self._loop, self._ctx or done))
        return obs, reward, False, self._ctx is None, info
