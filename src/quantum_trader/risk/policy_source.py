"""Where the risk engine reads the global trading policy.

``StorePolicySource`` follows ``trading.global`` in the policy store: it reads the newest
version once and then updates on every ``policy.updated`` event, so a change published by the
meta strategy controller applies to the very next order.
"""

from __future__ import annotations

from typing import Protocol

from quantum_trader.bus.policy_store import PolicyStore
from quantum_trader.domain.policy import TRADING_POLICY_KEY, TradingPolicy


class PolicySource(Protocol):
    def current(self) -> TradingPolicy: ...


class FixedPolicySource:
    """A policy that never changes (a backtest without the meta controller)."""

    def __init__(self, policy: TradingPolicy) -> None:
        self._policy = policy

    def current(self) -> TradingPolicy:
        return self._policy


class StorePolicySource:
    """The live ``trading.global`` policy from the policy store."""

    def __init__(self, store: PolicyStore) -> None:
        self._policy = store.get(TRADING_POLICY_KEY, TradingPolicy)
        store.watch(TRADING_POLICY_KEY, TradingPolicy, self._on_change)

    def _on_change(self, value: TradingPolicy) -> None:
        self._policy = value

    def current(self) -> TradingPolicy:
        return self._policy
