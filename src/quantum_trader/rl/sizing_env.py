"""The RL sizer's gymnasium environment, over the project's own engine and decisions.

The same episode as the strategy selector's (``rl/env.py``, whose machinery this subclasses):
a window of one symbol's candles replayed through a trading session whose trader is the
decision pipeline of ``rl/parts.py`` (features, ensemble votes, regime, strategies, risk
engine; the simulated exchange's fees, slippage and funding). Two parts differ: the **strategy
is the rule selector's** (``RegimeRuleSelector``, asked by the pipeline as in production: only
the size is learnt), and the **sizer is the environment's** (:class:`ActionSizer`).

**Who owns the step.** Each decision opens up to the selector (``open_decision``). The
environment asks its own rule selector and the chosen strategy what they will do (both are
pure: the same answer the pipeline gets next); a decision that will not enter is closed at
once, and one that will becomes a step: its :class:`SizingRequest` (``decision/
sizing_request.py``, the pipeline's own) is the observation (``agents/sizing_observation.py``,
what the served :class:`~quantum_trader.agents.rl_sizer.RLSizer` sees). ``step(action)`` arms
the action sizer with the fraction level and closes the decision: the pipeline asks the sizer,
which checks that it was asked the predicted request (it raises otherwise: the prediction must
never drift from the decision path) and answers ``f × the fixed-fractional quantity``; the risk
engine then checks the order as always. When the entry does not reach the sizer after all (the
last order still working, the cost gate), the action had no effect and ``info["sized"]`` is
False. In REDUCING and HALTED ``f`` is forced to 0, as the served sizer does
(``info["forced_zero"]``).

**Action**: an index into ``FRACTION_LEVELS`` (0, 0.25, 0.5, 0.75, 1). **Reward**
(:data:`SIZING_REWARD_VERSION`): as the selector's environment, the change of the account's
equity (net of fees, slippage and funding, open positions at their marks) from one sizing
decision to the next, over the initial balance, times ``reward_scale``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
import pandas as pd

from quantum_trader.agents.rl_sizer import FRACTION_LEVELS
from quantum_trader.agents.sizing_observation import (
    SIZING_OBSERVATION_FIELDS,
    SIZING_OBSERVATION_SIZE,
    sizing_observation,
)
from quantum_trader.clock.clock import SimulatedClock
from quantum_trader.decision.inputs import PendingDecision
from quantum_trader.decision.parts import PartsFactory
from quantum_trader.decision.sizing_request import sizing_request
from quantum_trader.domain.market import FundingRate
from quantum_trader.domain.risk import TradingState
from quantum_trader.execution.instruments import SymbolSpec
from quantum_trader.models.ensemble.member import Member
from quantum_trader.rl.env import EnvConfig, StrategySelectionEnv
from quantum_trader.rl.parts import env_parts
from quantum_trader.strategy.intents import TradeAction
from quantum_trader.strategy.selector import RegimeRuleSelector, StrategySelector
from quantum_trader.strategy.sizing import (
    FixedFractionalSizer,
    PositionSizer,
    SizingRequest,
    SizingResult,
)

SIZING_REWARD_VERSION = "equity-delta-1"
SIZING_ENV_VERSION = "sizing-env-1"
#: windows drawn at most for one episode that has an entry to size
REDRAWS = 8


class ActionSizer:
    """The sizer port answered by the environment: :meth:`arm` sets the fraction for the
    request the environment expects; :meth:`size` answers it once, ``f × base``."""

    name = "rl_env_sizer"

    def __init__(self, base: PositionSizer | None = None) -> None:
        self.base: PositionSizer = base or FixedFractionalSizer()
        self._armed: tuple[float, SizingRequest] | None = None
        self.asked = False

    def arm(self, fraction: float, expected: SizingRequest) -> None:
        self._armed, self.asked = (fraction, expected), False

    def disarm(self) -> None:
        """Forget an action the decision did not use (the entry did not reach the sizer)."""
        self._armed = None

    def size(self, request: SizingRequest) -> SizingResult:
        armed, self._armed = self._armed, None
        if armed is None or armed[1] != request:
            raise RuntimeError(
                f"ActionSizer asked for {request.intent.symbol}@{request.intent.time} "
                f"{'with no action set' if armed is None else 'a request it did not expect'}"
            )
        self.asked = True
        base = self.base.size(request)
        return SizingResult(armed[0] * base.quantity, f"f={armed[0]:g} of {base.sizer}", self.name)


class PositionSizingEnv(StrategySelectionEnv):
    """See the module docstring; the arguments are :class:`StrategySelectionEnv`'s, and the
    ``selector`` that chooses the strategy (the rule selector unless given)."""

    def __init__(
        self,
        config: EnvConfig,
        frame: pd.DataFrame,
        members: Sequence[Member],
        *,
        funding: Sequence[FundingRate] = (),
        spec: SymbolSpec | None = None,
        selector: StrategySelector | None = None,
    ) -> None:
        super().__init__(config, frame, members, funding=funding, spec=spec)
        self._rules = selector or RegimeRuleSelector()
        self._sizer = ActionSizer()
        observations, actions = sizing_spaces()
        self.observation_space = observations
        self.action_space = actions
        self._obs = np.zeros(SIZING_OBSERVATION_SIZE, dtype=np.float32)
        self._request: SizingRequest | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
        """A new episode (see :meth:`StrategySelectionEnv.reset`). A drawn window in which no
        entry opens (a quiet month) has no step: another start is drawn, up to
        :data:`REDRAWS` times; a start given in ``options`` is kept (RuntimeError)."""
        for attempt in range(REDRAWS):
            try:
                return super().reset(seed=seed if attempt == 0 else None, options=options)
            except RuntimeError:
                if options is not None and "start" in options:
                    raise
        raise RuntimeError(f"no entry to size in {REDRAWS} drawn episode windows")

    def step(
        self, action: np.int64 | int
    ) -> tuple[npt.NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        trader, request = self._trader, self._request
        if trader is None or trader.pending is None or request is None:
            raise RuntimeError("PositionSizingEnv.step before reset() or after the episode")
        index = int(action)
        if not 0 <= index < len(FRACTION_LEVELS):
            raise ValueError(f"action {action!r} outside 0..{len(FRACTION_LEVELS) - 1}")
        state = request.selection.trading_state if request.selection else TradingState.ACTIVE
        forced = state is not TradingState.ACTIVE
        fraction = 0.0 if forced else FRACTION_LEVELS[index]
        before = self._equity
        self._sizer.arm(fraction, request)
        trader.close(trader.pending)
        sized = self._sizer.asked
        self._sizer.disarm()
        more = self._advance()
        reward = (self._equity - before) / self.config.initial_balance * self.config.reward_scale
        truncated = not more or self._cursor >= self._stop
        info = self._info(request.intent.strategy, False)
        info |= {"fraction": fraction, "sized": sized, "forced_zero": forced}
        return self._obs, reward, False, truncated, info

    def action_masks(self) -> npt.NDArray[np.bool_]:
        """Every fraction level (REDUCING and HALTED force 0 in the step, as served)."""
        return np.ones(len(FRACTION_LEVELS), dtype=bool)

    @property
    def request(self) -> SizingRequest:
        """The sizing request of the open entry (what a sizer would be asked)."""
        if self._request is None:
            raise RuntimeError("PositionSizingEnv.request: no entry is open")
        return self._request

    def _parts(self, clock: SimulatedClock) -> PartsFactory:
        members = {self.config.symbol: self._members}
        return env_parts(self.config.parts, members, self._rules, clock, sizer=self._sizer)

    def _advance(self) -> bool:
        """Push candles, closing the decisions that will not enter, until an entry is open."""
        trader, session = self._trader, self._session
        assert trader is not None and session is not None
        process, bars = session.engine.process_bar, self._bars
        self._request = None
        while True:
            pending = trader.pending
            if pending is not None:
                request = self._entry_request(pending)
                if request is not None:
                    self._request, self._obs = request, sizing_observation(request)
                    self._equity = session.portfolio.equity
                    return True
                trader.close(pending)
            if self._cursor >= self._stop:
                self._equity = session.portfolio.equity
                return False
            process(*bars[self._cursor])
            self._cursor += 1

    def _entry_request(self, pending: PendingDecision) -> SizingRequest | None:
        """The request the sizer will get if this decision enters; None if it will not."""
        selection, market, policy = pending.selection, pending.market, pending.policy
        if selection is None or market is None or policy is None:
            return None
        parts, session = self._trader.pipeline.parts if self._trader else None, self._session
        assert parts is not None and session is not None
        strategy = parts.strategies[self._rules.select(selection).strategy]
        position = session.portfolio.quantity(selection.symbol)
        intent = strategy.decide(pending.signal, market, position, policy)
        if intent is None or intent.action is not TradeAction.ENTRY:
            return None
        return sizing_request(intent, policy, session.portfolio, selection, market, pending.signal)


def sizing_spaces() -> tuple[gym.spaces.Box, gym.spaces.Discrete]:
    """The observation space (``agents/sizing_observation.py``: in [0, 1], the recent PnL and
    the side in [-1, 1]) and the action space (an index into ``FRACTION_LEVELS``)."""
    low = np.zeros(SIZING_OBSERVATION_SIZE, dtype=np.float32)
    for name in ("recent_pnl", "side"):
        low[SIZING_OBSERVATION_FIELDS.index(name)] = -1.0
    box = gym.spaces.Box(low, np.ones_like(low), dtype=np.float32)
    return box, gym.spaces.Discrete(len(FRACTION_LEVELS))
