"""The RL position sizer (module 15 as it serves): a fraction of the base sizer's quantity.

Per entry: encode the :class:`SizingRequest` into the policy's observation (an injected encoder,
versioned with the policy, ``agents/sizing_observation.py``), run the ONNX network over the
fraction levels (a ``Discrete`` action space, so the selector's export and serving stack serves
it as it is), take the most probable level ``f`` (greedy), and size

    quantity = f × the base sizer's quantity          (f in [0, 1]; never a raw size)

The base sizer (fixed fractional by default) sizes within the policy's risk budget and leverage
cap, and the risk engine checks the order after; ``f ≤ 1`` means the RL sizer never asks for
more than its base would.

* **REDUCING and HALTED**: ``f`` is forced to 0 (quantity 0: no entry), whatever the policy says.
  With no policy the fallback sizes as it would alone, in every state (so that switching the
  module on changes nothing until a policy serves; the risk engine still rules REDUCING and
  HALTED).
* **Fallback**: with no policy, or when encoding or inference fails or gives a non-finite
  probability, the fallback sizer (the base, unless another is given) decides, and says so.

* **Canary**: with a :class:`CanaryRoute` (``rl/sizer_canary.py``), an entry that the route hands
  to the line's CANARY policy is sized by it, as above, and recorded with its version (the
  decision's ``sizer`` names it, ``rl_sizer@<version>``); if that policy fails on the entry
  (an error, a non-finite probability), the route hears why and production sizes the entry.

The status handle counts who decided (``decided_by_policy`` / ``decided_by_canary`` /
``decided_by_fallback`` / ``decided_by_forced_zero``), why the fallback did
(``fallback_no_policy`` / ``fallback_error`` / ``fallback_non_finite``) and keeps the mean
fraction (gauge ``mean_fraction_bp``, basis points).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.domain.risk import TradingState
from quantum_trader.status.registry import ModuleHandle
from quantum_trader.strategy.intents import TradeAction
from quantum_trader.strategy.sizing import (
    FixedFractionalSizer,
    PositionSizer,
    SizingRequest,
    SizingResult,
)

#: Encodes a sizing request into the policy's observation (``agents/sizing_observation.py``)
SizingEncoder = Callable[[SizingRequest], npt.NDArray[np.floating]]

#: the fractions of the base size a sizing policy chooses among, and their action names
FRACTION_LEVELS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
POLICY, CANARY, FALLBACK, FORCED_ZERO = "policy", "canary", "fallback", "forced_zero"
_ZERO_STATES = (TradingState.REDUCING, TradingState.HALTED)


def fraction_action(fraction: float) -> str:
    """The action name of a fraction level: ``f0``, ``f0.25``, …, ``f1``.

    >>> [fraction_action(f) for f in FRACTION_LEVELS]
    ['f0', 'f0.25', 'f0.5', 'f0.75', 'f1']
    >>> fraction_of("f0.75")
    0.75
    """
    return f"f{fraction:g}"


def fraction_of(action: str) -> float:
    """The fraction an action name stands for; ValueError unless ``f<x>`` with x in [0, 1]."""
    value = float(action[1:]) if action.startswith("f") else math.nan
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise ValueError(f"sizing action {action!r} is not f<fraction in [0, 1]>")
    return value


FRACTION_ACTIONS: tuple[str, ...] = tuple(fraction_action(f) for f in FRACTION_LEVELS)


class CanaryRoute(Protocol):
    """Hands a share of production's entries to the line's CANARY policy
    (``rl/sizer_canary.py``)."""

    def route(self, symbol: str, time: int) -> OnnxPolicy | None:
        """The CANARY policy when the entry of ``symbol`` at engine ``time`` is the canary's;
        None: production sizes it."""
        ...

    def broken(self, policy: OnnxPolicy, why: str) -> None:
        """``policy`` could not size an entry it was handed (production sized it instead)."""
        ...


@dataclass(frozen=True, slots=True)
class SizingDecision:
    """One entry sized, as the decision log records it.

    ``fraction`` is the share of ``base_quantity`` sized (1 for a fallback: the fallback's own
    quantity is used); ``propensity`` the network's probability of the chosen level (1 for the
    fallback and the forced zero).
    """

    symbol: str
    time: int
    fraction: float
    quantity: float
    base_quantity: float
    propensity: float
    policy_version: str  # the policy's version, or the fallback sizer's name
    decided_by: str  # POLICY, CANARY, FALLBACK or FORCED_ZERO
    reason: str


class RLSizer:
    """A :class:`PositionSizer` served from a sizing policy bundle (see the module docstring)."""

    def __init__(
        self,
        policy: OnnxPolicy | None,
        encoder: SizingEncoder,
        *,
        base: PositionSizer | None = None,
        fallback: PositionSizer | None = None,
        handle: ModuleHandle | None = None,
        on_decision: Callable[[SizingDecision], None] | None = None,
        name: str = "rl_sizer",
    ) -> None:
        self.name = name
        self._encoder = encoder
        self._base: PositionSizer = base or FixedFractionalSizer()
        self._fallback: PositionSizer = fallback or self._base
        self._handle = handle
        self._on_decision = on_decision
        self.policy: OnnxPolicy | None = None
        #: who hands a share of the entries to a CANARY policy (None: production sizes all)
        self.canary: CanaryRoute | None = None
        self._fractions: tuple[float, ...] = ()
        self.last_decision: SizingDecision | None = None
        self.last_failure: str | None = None
        self.decisions = 0
        self._fraction_sum = 0.0
        self.replace(policy)

    @property
    def mean_fraction(self) -> float:
        """The mean ``f`` over every entry sized so far (0 before the first)."""
        return self._fraction_sum / self.decisions if self.decisions else 0.0

    def replace(self, policy: OnnxPolicy | None) -> None:
        """Serve ``policy`` from the next entry on (a promotion or a rollback); None: none."""
        if policy is not None:
            self._fractions = self.fractions_of(policy)
        self.policy = policy

    def fractions_of(self, policy: OnnxPolicy) -> tuple[float, ...]:
        """The fractions ``policy``'s actions stand for; ValueError unless they are levels."""
        try:
            return tuple(fraction_of(a) for a in policy.actions)
        except ValueError as exc:
            raise ValueError(
                f"{self.name}: policy {policy.version} has actions {list(policy.actions)}; "
                f"a sizing policy's are fraction levels such as {list(FRACTION_ACTIONS)} ({exc})"
            ) from None

    def size(self, request: SizingRequest) -> SizingResult:
        intent = request.intent
        if intent.action is not TradeAction.ENTRY:
            raise ValueError(f"{self.name}: only entries are sized, got {intent.action}")
        route = self.canary
        canary = None if route is None else route.route(intent.symbol, intent.time)
        if canary is not None:
            done = self._by_policy(request, canary, self.fractions_of(canary), CANARY)
            if isinstance(done, SizingResult):
                return done
            assert route is not None
            route.broken(canary, done[1])  # production sizes the entry instead
        policy = self.policy
        if policy is None:  # the fallback sizes as it would alone, in every trading state
            return self._fall_back(request, "no_policy", "no policy in production")
        done = self._by_policy(request, policy, self._fractions, POLICY)
        return done if isinstance(done, SizingResult) else self._fall_back(request, *done)

    def _by_policy(
        self,
        request: SizingRequest,
        policy: OnnxPolicy,
        fractions: tuple[float, ...],
        decided_by: str,
    ) -> SizingResult | tuple[str, str]:
        """``policy``'s size (f = 0 in REDUCING and HALTED); (kind, why) when it fails."""
        state = request.selection.trading_state if request.selection else TradingState.ACTIVE
        if state in _ZERO_STATES:
            why = f"{state.value} → f = 0"
            return self._record(request, 0.0, 0.0, 1.0, policy.version, FORCED_ZERO, why)
        try:
            probs: list[float] = policy.probabilities(self._encoder(request)).tolist()
        except Exception as exc:  # any failure of the encoder or the session: the base decides
            return "error", f"{type(exc).__name__}: {exc}"
        if not all(map(math.isfinite, probs)):
            return "non_finite", f"non-finite probabilities {probs}"
        index = max(range(len(probs)), key=probs.__getitem__)  # the first best, as np.argmax
        fraction = fractions[index]
        base = self._base.size(request)
        why = f"{policy.version}: f={fraction:g} p={probs[index]:.3f} of {base.sizer}"
        return self._record(request, fraction, base.quantity, probs[index], policy.version,
                            decided_by, why)  # fmt: skip

    def _fall_back(self, request: SizingRequest, kind: str, why: str) -> SizingResult:
        if kind != "no_policy":
            self.last_failure = why
        if self._handle is not None:
            self._handle.count(f"fallback_{kind}")
        done = self._fallback.size(request)
        reason = f"{why}; {done.sizer}: {done.reason}"
        return self._record(request, 1.0, done.quantity, 1.0, done.sizer, FALLBACK, reason)

    def _record(
        self,
        request: SizingRequest,
        fraction: float,
        base_quantity: float,
        propensity: float,
        version: str,
        decided_by: str,
        reason: str,
    ) -> SizingResult:
        quantity = fraction * base_quantity
        intent = request.intent
        decision = SizingDecision(intent.symbol, intent.time, fraction, quantity, base_quantity,
                                  propensity, version, decided_by, reason)  # fmt: skip
        self.last_decision = decision
        self.decisions += 1
        self._fraction_sum += fraction
        if self._handle is not None:
            self._handle.count(f"decided_by_{decided_by}")
            self._handle.gauge("mean_fraction_bp", round(self.mean_fraction * 10_000))
        if self._on_decision is not None:
            self._on_decision(decision)
        # who sized: the fallback by its own name (a decision log reads as without this module),
        # a canary by its version (production's policy is the line's PRODUCTION version)
        by_version = decided_by in (FALLBACK, CANARY)
        return SizingResult(quantity, reason, version if by_version else self.name)
