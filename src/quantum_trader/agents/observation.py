"""The strategy selector's observation: one fixed-length float32 vector per decision.

The PPO selector (module 13) is trained on this vector (``rl/env.py``) and served on it from
its ONNX bundle; both build it here, from the :class:`~quantum_trader.strategy.selector.
SelectionContext` the decision pipeline hands its selector, so training and serving cannot
drift apart. A bundle records :data:`SELECTOR_OBSERVATION_VERSION`; serving refuses a bundle of
another version. Change the layout, the scaling or a field and the version must change too.

Where each field comes from (all known at the decision, after the candle's close; nothing later):

=================  ==================================================================  =====
field              source (``decision/pipeline.py`` ``_selection``)                     range
=================  ==================================================================  =====
regime_*           the symbol's regime (``strategy/regime.py``), one-hot; ``none``:    {0,1}
                   still warming up
market_regime_*    the market-wide regime (the detector's majority), one-hot            {0,1}
vol_percentile     the symbol's volatility percentile (regime detector)                 [0,1]
confidence         the ensemble signal's confidence (``models/ensemble``)               [0,1]
recent_pnl         the account's PnL since the UTC day began over its equity,          [-1,1]
                   times :data:`PNL_SCALE`, clipped
risk_mode_*        the trading policy's risk mode (meta strategy controller), one-hot   {0,1}
position           this symbol's signed position notional at the mark over the         [-1,1]
                   equity, over :data:`POSITION_SCALE`, clipped (portfolio)
drawdown           1 - equity / peak equity (portfolio), over :data:`DRAWDOWN_SCALE`,   [0,1]
                   clipped
trading_state_*    the risk engine's trading state (ACTIVE / REDUCING / HALTED)         {0,1}
=================  ==================================================================  =====

Scaling is fixed (not learned), so the vector means the same in every bundle; a bundle may add
its own running normalisation on top and carries its statistics.

>>> from quantum_trader.domain.policy import RiskMode
>>> from quantum_trader.strategy.regime import Regime
>>> from quantum_trader.strategy.selector import SelectionContext
>>> ctx = SelectionContext("BTCUSDT", 0, Regime.BULL, Regime.BULL, 0.8, 0.6, 50.0,
...                        RiskMode.MODERATE, equity=10_000.0, position=0.5, drawdown=0.02)
>>> obs = selector_observation(ctx)
>>> obs.shape == (SELECTOR_OBSERVATION_SIZE,), obs.dtype.name
(True, 'float32')
>>> dict(zip(SELECTOR_OBSERVATION_FIELDS, obs.tolist()))["recent_pnl"]
0.05000000074505806
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from quantum_trader.domain.policy import RiskMode
from quantum_trader.domain.risk import TradingState
from quantum_trader.strategy.regime import Regime
from quantum_trader.strategy.selector import SelectionContext

#: names the layout and scaling below; recorded in every policy bundle
SELECTOR_OBSERVATION_VERSION = "sel-obs-1"

#: recent PnL is a fraction of equity; times this, a 10 % day reads 1.0
PNL_SCALE = 10.0
#: position notional over equity; over this, 3x leverage reads 1.0
POSITION_SCALE = 3.0
#: drawdown fraction; over this, a 25 % drawdown reads 1.0
DRAWDOWN_SCALE = 0.25

_REGIMES: tuple[Regime, ...] = tuple(Regime)
_RISK_MODES: tuple[RiskMode, ...] = tuple(RiskMode)
_STATES: tuple[TradingState, ...] = tuple(TradingState)

#: the vector's fields, in order
SELECTOR_OBSERVATION_FIELDS: tuple[str, ...] = (
    *(f"regime_{r.value.lower()}" for r in _REGIMES),
    "regime_none",
    *(f"market_regime_{r.value.lower()}" for r in _REGIMES),
    "market_regime_none",
    "vol_percentile",
    "confidence",
    "recent_pnl",
    *(f"risk_mode_{m.value.lower()}" for m in _RISK_MODES),
    "position",
    "drawdown",
    *(f"trading_state_{s.value.lower()}" for s in _STATES),
)
SELECTOR_OBSERVATION_SIZE = len(SELECTOR_OBSERVATION_FIELDS)

_REGIME_AT = {r: i for i, r in enumerate(_REGIMES)}
_MARKET_AT = len(_REGIMES) + 1
_SCALARS_AT = 2 * (len(_REGIMES) + 1)
_MODE_AT = {m: _SCALARS_AT + 3 + i for i, m in enumerate(_RISK_MODES)}
_ACCOUNT_AT = _SCALARS_AT + 3 + len(_RISK_MODES)
_STATE_AT = {s: _ACCOUNT_AT + 2 + i for i, s in enumerate(_STATES)}


def selector_observation(context: SelectionContext) -> npt.NDArray[np.float32]:
    """The observation of one decision (see the module docstring for the fields).

    A non-finite number in ``context`` is refused (ValueError naming the field and the
    decision): a policy fed NaN answers anything.
    """
    scalars = {
        "vol_percentile": context.vol_percentile,
        "confidence": context.confidence,
        "recent_pnl": context.recent_pnl,
        "equity": context.equity,
        "position": context.position,
        "drawdown": context.drawdown,
    }
    for name, value in scalars.items():
        if not math.isfinite(value):
            raise ValueError(
                f"selector observation of {context.symbol}@{context.time}: {name}={value} "
                "is not finite"
            )
    out = np.zeros(SELECTOR_OBSERVATION_SIZE, dtype=np.float32)
    none = len(_REGIMES)
    out[_REGIME_AT[context.regime] if context.regime is not None else none] = 1.0
    market = context.market_regime
    out[_MARKET_AT + (_REGIME_AT[market] if market is not None else none)] = 1.0
    out[_SCALARS_AT] = _clip(context.vol_percentile, 0.0, 1.0)
    out[_SCALARS_AT + 1] = _clip(context.confidence, 0.0, 1.0)
    pnl = context.recent_pnl / context.equity if context.equity > 0 else 0.0
    out[_SCALARS_AT + 2] = _clip(pnl * PNL_SCALE, -1.0, 1.0)
    out[_MODE_AT[context.risk_mode]] = 1.0
    out[_ACCOUNT_AT] = _clip(context.position / POSITION_SCALE, -1.0, 1.0)
    out[_ACCOUNT_AT + 1] = _clip(context.drawdown / DRAWDOWN_SCALE, 0.0, 1.0)
    out[_STATE_AT[context.trading_state]] = 1.0
    return out


def _clip(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value
