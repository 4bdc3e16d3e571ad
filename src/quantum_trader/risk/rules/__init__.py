"""Pre-trade rules: one pure check each, ``(CheckContext, quantity) -> RuleResult``.

The engine runs them in :data:`DEFAULT_RULES` order; a trim lowers the quantity the later rules
see, and the engine re-runs all of them on the final quantity, so an approved or trimmed order
satisfies every rule at the quantity that is sent.
"""

from __future__ import annotations

from collections.abc import Callable

from quantum_trader.risk.context import CheckContext
from quantum_trader.risk.decision import RuleResult
from quantum_trader.risk.rules.exposure import (
    check_leverage,
    check_symbol_exposure,
    check_total_exposure,
)
from quantum_trader.risk.rules.losses import check_cooldown, check_daily_loss, check_equity
from quantum_trader.risk.rules.order_size import (
    check_min_notional,
    check_order_notional,
    check_risk_per_trade,
)
from quantum_trader.risk.rules.positions import check_max_open_positions
from quantum_trader.risk.rules.sanity import (
    check_price_sanity,
    check_stale_data,
    check_warm_up,
)
from quantum_trader.risk.rules.trading_state import check_reduce_only, check_trading_state

Rule = Callable[[CheckContext, float], RuleResult]

DEFAULT_RULES: tuple[Rule, ...] = (
    check_trading_state,
    check_reduce_only,
    check_price_sanity,
    check_stale_data,
    check_warm_up,
    check_equity,
    check_daily_loss,
    check_cooldown,
    check_max_open_positions,
    check_leverage,
    check_total_exposure,
    check_symbol_exposure,
    check_order_notional,
    check_risk_per_trade,
    check_min_notional,
)

__all__ = ["DEFAULT_RULES", "Rule"]
