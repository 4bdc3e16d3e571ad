"""The RL sizer's observation: one fixed-length float32 vector per entry decision.

The sizing policy (module 15) is trained on this vector and served on it from its ONNX bundle;
both build it here from the :class:`~quantum_trader.strategy.sizing.SizingRequest` the decision
pipeline hands its sizer (its ``selection`` is the selector's context of the same decision), so
training and serving cannot drift apart. A bundle records :data:`SIZING_OBSERVATION_VERSION`;
change the layout, the scaling or a field and the version must change too.

=================  ===============================================================  ======
field              source                                                           range
=================  ===============================================================  ======
regime_*           the symbol's regime (``selection.regime``), one-hot; ``none``:   {0,1}
                   still warming up
vol_percentile     the symbol's volatility percentile (regime detector)             [0,1]
confidence         the ensemble signal's confidence                                 [0,1]
recent_pnl         the account's PnL since the UTC day began over its equity,      [-1,1]
                   times :data:`PNL_SCALE`, clipped
drawdown           1 - equity / peak equity, over :data:`DRAWDOWN_SCALE`, clipped   [0,1]
trading_state_*    the risk engine's trading state (ACTIVE / REDUCING / HALTED)     {0,1}
strategy_*         the strategy that wants the entry (``intent.strategy``), one-hot {0,1}
side               +1 long, -1 short                                                {-1,1}
stop_distance      |entry - stop| / entry, over :data:`STOP_SCALE`, clipped         [0,1]
=================  ===============================================================  ======

>>> from quantum_trader.domain.orders import Side
>>> from quantum_trader.domain.policy import RiskMode, TradingPolicy
>>> from quantum_trader.strategy.intents import TradeAction, TradeIntent
>>> from quantum_trader.strategy.regime import Regime
>>> from quantum_trader.strategy.selector import SelectionContext
>>> ctx = SelectionContext("BTCUSDT", 0, Regime.BULL, None, 0.8, 0.6, 50.0, RiskMode.MODERATE,
...                        equity=10_000.0, drawdown=0.05)
>>> i = TradeIntent("BTCUSDT", 0, TradeAction.ENTRY, Side.BUY, 100.0, "TrendFollowing", "", 0.6,
...                 98.0, 104.0)
>>> obs = sizing_observation(SizingRequest(i, 10_000.0, TradingPolicy(), selection=ctx))
>>> obs.shape == (SIZING_OBSERVATION_SIZE,), obs.dtype.name
(True, 'float32')
>>> named = dict(zip(SIZING_OBSERVATION_FIELDS, obs.tolist()))
>>> named["regime_bull"], named["strategy_trendfollowing"], named["side"], named["drawdown"]
(1.0, 1.0, 1.0, 0.20000000298023224)
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from quantum_trader.agents.observation import DRAWDOWN_SCALE, PNL_SCALE  # the same scaling
from quantum_trader.domain.risk import TradingState
from quantum_trader.strategy.regime import Regime
from quantum_trader.strategy.selector import STRATEGY_NAMES
from quantum_trader.strategy.sizing import SizingRequest

#: names the layout and scaling below; recorded in every sizing policy bundle
SIZING_OBSERVATION_VERSION = "size-obs-1"

#: stop distance over price; over this, a 5 % stop reads 1.0
STOP_SCALE = 0.05

_REGIMES: tuple[Regime, ...] = tuple(Regime)
_STATES: tuple[TradingState, ...] = tuple(TradingState)

#: the vector's fields, in order
SIZING_OBSERVATION_FIELDS: tuple[str, ...] = (
    *(f"regime_{r.value.lower()}" for r in _REGIMES),
    "regime_none",
    "vol_percentile",
    "confidence",
    "recent_pnl",
    "drawdown",
    *(f"trading_state_{s.value.lower()}" for s in _STATES),
    *(f"strategy_{s.lower()}" for s in STRATEGY_NAMES),
    "side",
    "stop_distance",
)
SIZING_OBSERVATION_SIZE = len(SIZING_OBSERVATION_FIELDS)
_AT = {name: i for i, name in enumerate(SIZING_OBSERVATION_FIELDS)}


def sizing_observation(request: SizingRequest) -> npt.NDArray[np.float32]:
    """The observation of one entry (see the module docstring for the fields).

    A request without its ``selection`` or with a non-finite number is refused (ValueError
    naming the field and the decision): the sizer then falls back to its base sizer.
    """
    ctx, intent = request.selection, request.intent
    where = f"sizing observation of {intent.symbol}@{intent.time}"
    if ctx is None:
        raise ValueError(f"{where}: the request carries no selection context")
    scalars = {
        "vol_percentile": ctx.vol_percentile,
        "confidence": ctx.confidence,
        "recent_pnl": ctx.recent_pnl,
        "equity": ctx.equity,
        "drawdown": ctx.drawdown,
    }
    for name, value in scalars.items():
        if not math.isfinite(value):
            raise ValueError(f"{where}: {name}={value} is not finite")
    out = np.zeros(SIZING_OBSERVATION_SIZE, dtype=np.float32)
    regime = "none" if ctx.regime is None else ctx.regime.value.lower()
    out[_AT[f"regime_{regime}"]] = 1.0
    out[_AT["vol_percentile"]] = _clip(ctx.vol_percentile, 0.0, 1.0)
    out[_AT["confidence"]] = _clip(ctx.confidence, 0.0, 1.0)
    pnl = ctx.recent_pnl / ctx.equity if ctx.equity > 0 else 0.0
    out[_AT["recent_pnl"]] = _clip(pnl * PNL_SCALE, -1.0, 1.0)
    out[_AT["drawdown"]] = _clip(ctx.drawdown / DRAWDOWN_SCALE, 0.0, 1.0)
    out[_AT[f"trading_state_{ctx.trading_state.value.lower()}"]] = 1.0
    strategy = f"strategy_{intent.strategy.lower()}"
    if strategy in _AT:  # an unknown strategy leaves the one-hot empty
        out[_AT[strategy]] = 1.0
    out[_AT["side"]] = float(intent.side.sign)
    out[_AT["stop_distance"]] = _clip(intent.stop_distance / intent.price / STOP_SCALE, 0.0, 1.0)
    return out


def _clip(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value
