"""The strategy selector's gymnasium environment, over the project's own engine and decisions.

One episode is a window of one symbol's candles replayed through a
:class:`~quantum_trader.engine.session.TradingSession` (the engine, the simulated exchange with
its fees, slippage, funding and liquidation, the portfolio, the order manager) whose trader is a
:class:`~quantum_trader.decision.pipeline.DecisionPipeline` built by ``rl/parts.py`` (features,
ensemble votes, regime, strategies, sizing, risk engine): the code path of backtest and live,
no second simulator. Before the window, the pipeline's indicators are warmed on the candles
before it, and (``batch_votes``) the members' votes are prepared in batch as a replay does; a
prepared vote is used only when it is the vote on the decision's own input.

**Who owns the step.** The engine is push-driven; the environment pushes one candle at a time
(``engine.process_bar``). Its trader opens the pipeline's decision up to the selector
(``DecisionPipeline.open_decision``) and stops there: the selection context becomes the
observation. ``step(action)`` sets the strategy on the pipeline's selector
(:class:`~quantum_trader.rl.parts.ActionSelector`), closes the decision (intent, size, risk,
order: ``close_decision``), then pushes candles until the next decision is open. No thread,
no generator: nothing runs between the two halves of a decision.

**Observation**: ``agents/observation.py`` (:data:`SELECTOR_OBSERVATION_VERSION`), what the
served policy sees. **Action**: an index into ``STRATEGY_NAMES`` (TrendFollowing,
MeanReversion, Breakout, Neutral). While the risk engine is HALTED only Neutral is allowed
(:meth:`StrategySelectionEnv.action_masks`; any other action is replaced by Neutral and
``info["forced_neutral"]`` says so).

**Reward** (:data:`REWARD_VERSION`): the change of the account's equity from one decision to
the next, over the initial balance, times ``reward_scale``::

    r_t = (E_{t+1} - E_t) / E_0 * reward_scale

``E_t`` is the portfolio's equity when decision ``t`` is open: wallet balance (every fee,
funding payment and realised PnL already booked) plus the open position marked at the
candle's close. So the reward is net of fees, slippage and funding, and an episode's rewards
sum to ``(E_T - E_0) / E_0 * reward_scale``. Written as the realised net PnL of the trades
closed during the step plus a shaping term, the shaping is ``Φ(s_{t+1}) - Φ(s_t)`` with
``Φ`` the open position's unrealised PnL less the entry fee and funding already paid on it:
potential-based (Ng et al., 1999) with γ = 1 (PPO discounts with its own γ < 1, under which
the equivalence is approximate). From flat to flat the rewards add up to exactly the closed
trades' net PnL (``tests/rl/test_env.py``). The episode is not closed out at its end, so its
return counts the open position at its mark. Nothing else is added.

An episode ends (``truncated``) when the window's last candle is reached; the account never
ends it early (the risk engine halts trading instead, as live).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
import pandas as pd

from quantum_trader.agents.observation import (
    SELECTOR_OBSERVATION_FIELDS,
    SELECTOR_OBSERVATION_SIZE,
    selector_observation,
)
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.data.symbols import SYNTHETIC_PREFIX, is_synthetic
from quantum_trader.decision.inputs import PendingDecision, PipelineConfig
from quantum_trader.decision.parts import PartsFactory
from quantum_trader.decision.pipeline import DecisionPipeline
from quantum_trader.domain.market import FundingRate
from quantum_trader.domain.risk import TradingState
from quantum_trader.domain.time import timeframe_ms
from quantum_trader.engine.engine import Bar
from quantum_trader.engine.session import SessionConfig, TradingSession
from quantum_trader.execution.instruments import BINANCE_USDM, SymbolSpec, spec_for
from quantum_trader.execution.simulated.exchange import ExchangeConfig
from quantum_trader.execution.simulated.funding import FundingConfig
from quantum_trader.features.labels import LabelSpec
from quantum_trader.features.pipeline import FeatureConfig
from quantum_trader.models.ensemble.member import Member
from quantum_trader.rl.parts import ActionSelector, EnvPartsConfig, env_parts
from quantum_trader.rl.trader import SteppedTrader
from quantum_trader.strategy.selector import NEUTRAL, STRATEGY_NAMES, SelectionContext

#: names the reward's definition (module docstring); recorded in every policy bundle
REWARD_VERSION = "equity-delta-1"
#: names the environment's dynamics (the episode, the parts, the action mapping)
ENV_VERSION = "strategy-env-1"
_NEUTRAL = STRATEGY_NAMES.index(NEUTRAL)
_COLUMNS = ("open_time", "open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class EnvConfig:
    """One environment: its symbol, its episodes and the account it trades."""

    symbol: str
    parts: EnvPartsConfig
    timeframe: str = "1h"
    #: candles per episode (the episode's decisions are one fewer: the last one only observes)
    episode_candles: int = 720
    #: candles before the episode that warm the indicators (none of them is traded); the main
    #: job's warm-up (``app/main_job.py`` WARM_UP_CANDLES)
    warm_up_candles: int = 500
    initial_balance: float = 10_000.0
    reward_scale: float = 100.0  # 1.0 = 1 % of the initial balance
    exchange: ExchangeConfig = field(default_factory=ExchangeConfig)
    funding: FundingConfig = field(default_factory=FundingConfig)
    labels: LabelSpec = field(default_factory=LabelSpec)
    #: the features the members read (QT_FEATURES), as production's
    features: FeatureConfig = field(default_factory=FeatureConfig)
    #: prepare the members' votes in batch at each reset (the replay's path; same votes)
    batch_votes: bool = True

    def __post_init__(self) -> None:
        timeframe_ms(self.timeframe)
        if self.episode_candles < 2:
            raise ValueError(f"EnvConfig.episode_candles={self.episode_candles}: must be >= 2")
        if self.warm_up_candles < 0:
            raise ValueError(f"EnvConfig.warm_up_candles={self.warm_up_candles}: must be >= 0")
        if self.initial_balance <= 0 or self.reward_scale <= 0:
            raise ValueError(
                f"EnvConfig: initial_balance={self.initial_balance} and "
                f"reward_scale={self.reward_scale} must be > 0"
            )


class StrategySelectionEnv(gym.Env[npt.NDArray[np.float32], np.int64]):
    """See the module docstring. ``frame``: the symbol's candles (``open_time``, OHLCV) in time
    order; each episode is a window of it drawn with the reset's seed, after
    ``warm_up_candles`` of history. ``members``: the symbol's ensemble members."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium's own field

    def __init__(
        self,
        config: EnvConfig,
        frame: pd.DataFrame,
        members: Sequence[Member],
        *,
        funding: Sequence[FundingRate] = (),
        spec: SymbolSpec | None = None,
    ) -> None:
        self.config = config
        self._frame = _checked(frame, config)
        self._members = tuple(members)
        self._funding = tuple(funding)
        self._spec = spec or _default_spec(config.symbol, self._frame)
        self._bars = _bars(config.symbol, self._frame, timeframe_ms(config.timeframe))
        observations, actions = selector_spaces()
        self.observation_space: gym.spaces.Box = observations  # type: ignore[assignment]
        self.action_space: gym.spaces.Discrete = actions
        self._session: TradingSession | None = None
        self._trader: SteppedTrader | None = None
        self._selector = ActionSelector()
        self._cursor = 0  # next bar to push
        self._stop = 0  # the episode's end (exclusive)
        self._obs = np.zeros(SELECTOR_OBSERVATION_SIZE, dtype=np.float32)
        self._equity = config.initial_balance

    # --- gymnasium ----------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        """A new episode: ``options["start"]`` (a candle index) or a start drawn uniformly."""
        super().reset(seed=seed)
        cfg = self.config
        first = cfg.warm_up_candles
        last = len(self._bars) - cfg.episode_candles
        start = int((options or {}).get("start", self.np_random.integers(first, last + 1)))
        if not first <= start <= last:
            raise ValueError(f"episode start {start} outside [{first}, {last}] of the frame")
        self._close()
        self._begin(start)
        if not self._advance():
            raise RuntimeError(
                f"no decision in the episode from candle {start}: the indicators need more "
                f"warm-up than warm_up_candles={cfg.warm_up_candles}"
            )
        return self._obs, self._info(None, False)

    def step(
        self, action: np.int64 | int
    ) -> tuple[npt.NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        trader = self._trader
        if trader is None or trader.pending is None:
            raise RuntimeError("StrategySelectionEnv.step before reset() or after the episode")
        pending: PendingDecision = trader.pending
        index = int(action)
        if not 0 <= index < len(STRATEGY_NAMES):
            raise ValueError(f"action {action!r} outside 0..{len(STRATEGY_NAMES) - 1}")
        forced = index != _NEUTRAL and _halted(pending)
        strategy = STRATEGY_NAMES[_NEUTRAL if forced else index]
        before = self._equity
        self._selector.choose(strategy)
        trader.close(pending)
        more = self._advance()
        reward = (self._equity - before) / self.config.initial_balance * self.config.reward_scale
        truncated = not more or self._cursor >= self._stop
        return self._obs, reward, False, truncated, self._info(strategy, forced)

    def action_masks(self) -> npt.NDArray[np.bool_]:
        """The actions allowed at the open decision (sb3-contrib's masking hook): all of them,
        or only Neutral while the risk engine is HALTED."""
        trader = self._trader
        if trader is not None and trader.pending is not None and _halted(trader.pending):
            return np.asarray(np.arange(len(STRATEGY_NAMES)) == _NEUTRAL, dtype=bool)
        return np.ones(len(STRATEGY_NAMES), dtype=bool)

    def close(self) -> None:
        self._close()

    # --- the episode --------------------------------------------------------------------
    @property
    def selection(self) -> SelectionContext:
        """What the selector sees at the open decision (a rule selector can answer it)."""
        trader = self._trader
        if trader is None or trader.pending is None or trader.pending.selection is None:
            raise RuntimeError("StrategySelectionEnv.selection: no decision is open")
        return trader.pending.selection

    @property
    def session(self) -> TradingSession:
        """The episode's trading session (its portfolio, exchange, orders)."""
        if self._session is None:
            raise RuntimeError("no episode: call reset() first")
        return self._session

    def _begin(self, start: int) -> None:
        cfg = self.config
        window = self._frame.iloc[start : start + cfg.episode_candles]
        history = self._frame.iloc[start - cfg.warm_up_candles : start]
        clock = SimulatedClock(int(window["open_time"].iloc[0]))
        funding = {cfg.symbol: self._funding}
        pipeline = DecisionPipeline(
            PipelineConfig(cfg.timeframe, labels=cfg.labels, features=cfg.features),
            self._parts(clock),
            symbols=[cfg.symbol],
            funding=funding,
        )
        trader = SteppedTrader(pipeline)
        session = TradingSession(
            SessionConfig(
                cfg.timeframe,
                initial_balance=cfg.initial_balance,
                exchange=cfg.exchange,
                funding=cfg.funding,
                run_id="rl-env",
                commit_on_change=False,
            ),
            {cfg.symbol: window},
            trader,
            funding_rates=funding,
            specs={cfg.symbol: self._spec},
            clock=clock,
        )
        # one thread: the live votes' worker the pipeline starts at bind is not used here
        pipeline.close()
        pipeline.warm_up({cfg.symbol: history})
        if cfg.batch_votes:
            pipeline.prepare_replay(
                self._bars[start : start + cfg.episode_candles], background=False
            )
        session.start()
        self._session, self._trader = session, trader
        self._cursor, self._stop = start, start + cfg.episode_candles

    def _parts(self, clock: SimulatedClock) -> PartsFactory:
        """The episode pipeline's parts: the agent's selector (a subclass changes them)."""
        members = {self.config.symbol: self._members}
        return env_parts(self.config.parts, members, self._selector, clock)

    def _advance(self) -> bool:
        """Push candles until a decision is open; False when the episode's candles ran out."""
        trader, session = self._trader, self._session
        assert trader is not None and session is not None
        process, bars = session.engine.process_bar, self._bars
        while self._cursor < self._stop:
            process(*bars[self._cursor])
            self._cursor += 1
            pending = trader.pending
            if pending is not None and pending.selection is not None:
                self._obs = selector_observation(pending.selection)
                self._equity = session.portfolio.equity
                return True
        self._equity = session.portfolio.equity
        return False

    def _info(self, strategy: str | None, forced: bool) -> dict[str, Any]:
        session = self._session
        assert session is not None
        return {
            "equity": self._equity,
            "time": session.clock.now(),
            "strategy": strategy,
            "forced_neutral": forced,
        }

    def _close(self) -> None:
        if self._trader is not None:
            self._trader.pipeline.close()
        self._session = self._trader = None


def selector_spaces() -> tuple[gym.spaces.Box, gym.spaces.Discrete]:
    """The observation space (``agents/observation.py``: every field in [0, 1], the recent PnL
    and the position in [-1, 1]) and the action space (an index into ``STRATEGY_NAMES``)."""
    low = np.zeros(SELECTOR_OBSERVATION_SIZE, dtype=np.float32)
    for name in ("recent_pnl", "position"):
        low[SELECTOR_OBSERVATION_FIELDS.index(name)] = -1.0
    box = gym.spaces.Box(low, np.ones_like(low), dtype=np.float32)
    return box, gym.spaces.Discrete(len(STRATEGY_NAMES))


def _halted(pending: PendingDecision) -> bool:
    selection = pending.selection
    return selection is not None and selection.trading_state is TradingState.HALTED


def _checked(frame: pd.DataFrame, config: EnvConfig) -> pd.DataFrame:
    missing = [c for c in _COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{config.symbol} frame lacks columns {missing}")
    need = config.warm_up_candles + config.episode_candles
    if len(frame) < need:
        raise ValueError(
            f"{config.symbol} frame has {len(frame)} candles; an episode needs {need} "
            f"(warm_up_candles={config.warm_up_candles} + episode_candles="
            f"{config.episode_candles})"
        )
    times = frame["open_time"].to_numpy()
    if len(times) > 1 and bool(np.any(np.diff(times) <= 0)):
        raise ValueError(f"{config.symbol} frame's open times do not strictly increase")
    return frame.reset_index(drop=True)[list(_COLUMNS)]


def _bars(symbol: str, frame: pd.DataFrame, tf_ms: int) -> list[Bar]:
    """The frame's candles as the engine's scalar tuples, once for every episode."""
    opens = frame["open_time"].astype("int64").tolist()
    rows = frame[list(_COLUMNS[1:])].to_numpy(dtype=np.float64).tolist()
    return [(symbol, t, t + tf_ms, *r) for t, r in zip(opens, rows, strict=True)]


def _default_spec(symbol: str, frame: pd.DataFrame) -> SymbolSpec:
    """The symbol's published rules; a synthetic symbol takes those of the real symbol it is
    named after (its prices have every decimal, from which ``infer_spec`` would infer a cheap
    coin's whole-unit step)."""
    real = symbol.removeprefix(SYNTHETIC_PREFIX) if is_synthetic(symbol) else symbol
    if real in BINANCE_USDM:
        return replace(BINANCE_USDM[real], symbol=symbol)
    return spec_for(symbol, frame["close"].head(2000).tolist())
