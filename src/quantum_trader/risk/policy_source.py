"""Where the risk engine reads the global trading policy.

``StorePolicySource`` follows ``trading.global`` in the policy store: it reads the newest
version once and then updates on every ``policy.updated`` event, so a change published by the
meta strategy controller applies to the very next order.
"""

from __future__ import annotations

from typing import Protocol

from quantum_trader.bus.policy_store import GlobalTradingPolicy, PolicyStore
from quantum_trader.domain.policy import RiskMode, TradingPolicy

TRADING_POLICY_KEY = "trading.global"


class PolicySource(Protocol):
    def current(self) -> TradingPolicy: ...


def to_trading_policy(value: GlobalTradingPolicy) -> TradingPolicy:
    return TradingPolicy(
        risk_mode=RiskMode(value.risk_mode),
        max_open_positions=value.max_open_positions,
        max_leverage=value.max_leverage,
        stop_loss_pct=value.stop_loss_pct,
        risk_per_trade=value.risk_per_trade,
    )


def to_global_policy(policy: TradingPolicy) -> GlobalTradingPolicy:
    return GlobalTradingPolicy(
        risk_mode=policy.risk_mode.value,
        max_open_positions=policy.max_open_positions,
        max_leverage=policy.max_leverage,
        stop_loss_pct=policy.stop_loss_pct,
        risk_per_trade=policy.risk_per_trade,
    )


class FixedPolicySource:
    """A policy that never changes (a backtest without the meta controller)."""

    def __init__(self, policy: TradingPolicy) -> None:
        self._policy = policy

    def current(self) -> TradingPolicy:
        return self._policy


class StorePolicySource:
    """The live ``trading.global`` policy from the policy store."""

    def __init__(self, store: PolicyStore) -> None:
        self._policy = to_trading_policy(store.get(TRADING_POLICY_KEY, GlobalTradingPolicy))
        store.watch(TRADING_POLICY_KEY, GlobalTradingPolicy, self._on_change)

    def _on_change(self, value: GlobalTradingPolicy) -> None:
        self._policy = to_trading_policy(value)

    def current(self) -> TradingPolicy:
        return self._policy
