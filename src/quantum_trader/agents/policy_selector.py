"""The PPO strategy selector (module 13 as it serves): a policy bundle behind the selector port.

Per decision: encode the :class:`SelectionContext` into the policy's observation (an injected
encoder, versioned with the policy), normalise, run the ONNX network, take the most probable
strategy (greedy). The chosen action's probability (its propensity) and the policy version are
kept with every decision (:class:`PolicyDecision`), for the decision log and for off-policy
estimates of other policies.

* **HALTED**: only Neutral is allowed (the action mask), whatever the policy would say;
  its propensity under the masked policy is 1. With no policy the rule selector decides as it
  would alone, HALTED included (production's decisions are then the rules' own).
* **Fallback**: with no policy, or when encoding or inference fails or gives a non-finite
  probability, the rule selector (``RegimeRuleSelector`` by default) decides, and says so.
* **Canary**: with a :class:`CanaryRoute` (``rl/selector_canary.py``), a decision that the route
  hands to the line's CANARY policy is made by it, as above (HALTED: the mask, in its name), and
  recorded with its version (the decision's ``policy_version``, and the choice's ``selector``);
  if that policy fails on it (an error, a non-finite probability), the route hears why and
  production decides.

The status handle counts who decided (``decided_by_policy`` / ``decided_by_canary`` /
``decided_by_fallback`` / ``decided_by_mask``), why the fallback did (``fallback_no_policy`` /
``fallback_error`` / ``fallback_non_finite``) and the strategies chosen (``selected_<strategy>``).
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
from quantum_trader.strategy.selector import (
    NEUTRAL,
    STRATEGY_NAMES,
    RegimeRuleSelector,
    SelectionContext,
    StrategyChoice,
    StrategySelector,
)

#: Encodes what a selector sees into the policy's observation vector (``agents/observation.py``)
ObservationEncoder = Callable[[SelectionContext], npt.NDArray[np.floating]]

POLICY, CANARY, FALLBACK, MASK = "policy", "canary", "fallback", "mask"


class CanaryRoute(Protocol):
    """Hands a share of production's decisions to the line's CANARY policy
    (``rl/selector_canary.py``)."""

    def route(self, symbol: str, time: int) -> OnnxPolicy | None:
        """The CANARY policy when the decision of ``symbol`` at engine ``time`` is the canary's;
        None: production decides."""
        ...

    def broken(self, policy: OnnxPolicy, why: str) -> None:
        """``policy`` could not make a decision it was handed (production made it instead)."""
        ...


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """One selection as the decision log records it.

    ``propensity`` is the probability with which the deciding policy chose ``strategy``: the
    network's probability (``decided_by`` "policy"), 1 for the deterministic rule fallback and
    for the HALTED mask. ``probabilities`` are the network's, in ``actions`` order, when it ran.
    """

    symbol: str
    time: int
    strategy: str
    propensity: float
    policy_version: str  # the policy's version, or the fallback selector's name
    decided_by: str  # POLICY, CANARY, FALLBACK or MASK
    reason: str
    actions: tuple[str, ...] = ()
    probabilities: tuple[float, ...] = ()


class PolicySelector:
    """A :class:`StrategySelector` served from a policy bundle, with the rule selector behind it.

    ``policy`` None means no policy is in production: every decision falls back (counted) until
    :meth:`replace` brings one. ``on_decision`` receives every :class:`PolicyDecision` (the
    decision log); the last one is also kept in :attr:`last_decision`.
    """

    def __init__(
        self,
        policy: OnnxPolicy | None,
        encoder: ObservationEncoder,
        *,
        fallback: StrategySelector | None = None,
        handle: ModuleHandle | None = None,
        on_decision: Callable[[PolicyDecision], None] | None = None,
        name: str = "ppo_selector",
    ) -> None:
        self.name = name
        self._encoder = encoder
        self._fallback: StrategySelector = fallback or RegimeRuleSelector()
        self._handle = handle
        self.on_decision = on_decision
        self.policy: OnnxPolicy | None = None
        #: who hands a share of the decisions to a CANARY policy (None: production makes all)
        self.canary: CanaryRoute | None = None
        self.last_decision: PolicyDecision | None = None
        self.last_failure: str | None = None  # why the last fallback for a failure happened
        self.replace(policy)

    def replace(self, policy: OnnxPolicy | None) -> None:
        """Serve ``policy`` from the next decision on (a promotion or a rollback); None: none."""
        if policy is not None:
            unknown = [a for a in policy.actions if a not in STRATEGY_NAMES]
            if unknown or NEUTRAL not in policy.actions:
                raise ValueError(
                    f"{self.name}: policy {policy.version} has actions {list(policy.actions)}; "
                    f"a strategy selector's must be among {list(STRATEGY_NAMES)} and include "
                    f"{NEUTRAL} (the HALTED mask)"
                )
        self.policy = policy

    def select(self, context: SelectionContext) -> StrategyChoice:
        route = self.canary
        canary = None if route is None else route.route(context.symbol, context.time)
        if route is not None and canary is not None:
            done = self._by_policy(canary, context, CANARY)
            if isinstance(done, PolicyDecision):  # recorded by its version: not production's
                return self._record(done, canary.version)
            route.broken(canary, done[1])  # production decides instead
        decision, selector, fallback = self._decide(context, self._fallback)
        if fallback is not None:
            if fallback != "no_policy":
                self.last_failure = decision.reason
            if self._handle is not None:
                self._handle.count(f"fallback_{fallback}")
        return self._record(decision, selector)

    def decide(
        self, context: SelectionContext, *, fallback: StrategySelector | None = None
    ) -> PolicyDecision:
        """What :meth:`select` would decide here, counting, logging and remembering nothing
        (an off-policy target's answer at another account's decision). ``fallback``: asked
        instead of this selector's own (whose counters would count the question)."""
        return self._decide(context, fallback or self._fallback)[0]

    def _decide(
        self, context: SelectionContext, rules: StrategySelector
    ) -> tuple[PolicyDecision, str, str | None]:
        """The decision, the name of the selector that made it, and the fallback's kind (None:
        the policy or the mask decided); ``rules`` decide when the policy cannot."""
        policy = self.policy
        if policy is None:  # the rules decide as they would alone, HALTED included
            return _fall_back(rules, context, "no_policy", "no policy in production")
        done = self._by_policy(policy, context, POLICY)
        if isinstance(done, PolicyDecision):
            return done, self.name, None
        return _fall_back(rules, context, *done)

    def _by_policy(
        self, policy: OnnxPolicy, context: SelectionContext, decided_by: str
    ) -> PolicyDecision | tuple[str, str]:
        """``policy``'s decision (HALTED: the mask's), as ``decided_by``; (kind, why) when it
        fails."""
        if context.trading_state is TradingState.HALTED:
            return PolicyDecision(
                context.symbol, context.time, NEUTRAL, 1.0, policy.version, MASK, "HALTED → Neutral"
            )
        try:
            probs: list[float] = policy.probabilities(self._encoder(context)).tolist()
        except Exception as exc:  # any failure of the encoder or the session: rules decide
            return "error", f"{type(exc).__name__}: {exc}"
        if not all(map(math.isfinite, probs)):
            return "non_finite", f"non-finite probabilities {probs}"
        index = max(range(len(probs)), key=probs.__getitem__)  # the first best, as np.argmax
        strategy = policy.actions[index]
        propensity = probs[index]
        return PolicyDecision(
            context.symbol,
            context.time,
            strategy,
            propensity,
            policy.version,
            decided_by,
            f"{policy.version}: {strategy} p={propensity:.3f}",
            policy.actions,
            tuple(probs),
        )

    def _record(self, decision: PolicyDecision, selector: str) -> StrategyChoice:
        self.last_decision = decision
        if self._handle is not None:
            self._handle.count(f"decided_by_{decision.decided_by}")
            self._handle.count(f"selected_{decision.strategy}")
        if self.on_decision is not None:
            self.on_decision(decision)
        return StrategyChoice(decision.strategy, decision.reason, selector)


def _fall_back(
    rules: StrategySelector, context: SelectionContext, kind: str, why: str
) -> tuple[PolicyDecision, str, str]:
    """The rules' decision, their name, and the fallback's ``kind``."""
    choice = rules.select(context)
    decision = PolicyDecision(
        context.symbol,
        context.time,
        choice.strategy,
        1.0,
        choice.selector,
        FALLBACK,
        f"{why}; rules: {choice.reason}",
    )
    return decision, choice.selector, kind
