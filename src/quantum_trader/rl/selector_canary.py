"""The PPO selector line's canary: a CANARY selector policy selects a share of production's
strategies, and steps on, or is retired, on the line's shadow-pair evidence.

A selector policy enters CANARY when it wins a candidate experiment of the line
(``app/policy_candidates.py``) or the run's own experiment (``app/ab_testing.py``); from then on
:class:`SelectorCanary` serves it, with the sizer line's rule (``rl/sizer_canary.py``, through
``rl/policy_canary.PolicyCanary``):

* **Share.** Production's policy selector (``agents/policy_selector.py``) hands it the decisions
  whose draw (``canary_draw``: a stable hash of the seed, the symbol and the decision's engine
  time, so a replay assigns every decision alike) falls below its share, ``shares[canary_steps]``
  with the model rollout's shares (25 %, then 50 %); production decides the others as before.
  Each decision records the policy version that made it (the canary's by its version).
* **Evidence.** The line's shadow pair keeps serving the canary (its SHADOW landings wait until
  the canary ends, ``app/rl_agents.py``): the challenger selects every strategy with it, the
  twin with ``QT_SELECTOR``'s selector, both on the same candles. Their per-candle net-return
  difference (basis points) feeds the always-valid mixture test (alpha 0.05, at least 100
  candles, horizon 4,000), a fresh test per step.
* **Moves**, one audited registry move each, actor ``rule:selector_canary``, the reading as the
  reason: better → the next share, and after the last share PRODUCTION (production's selector
  serves it); worse, broken (it failed on a decision: an error or non-finite probabilities), no
  verdict by the horizon, or the line's production changed under it → RETIRED, and production
  decides 100 % again. An operator's move is taken up at the next candle.

Status counters on module 13 (``rl_meta_strategy``), written once a canary serves:
``selector_canary_decisions``, ``selector_canary_share_ppm``, ``selector_canary_version``,
``selector_canary_steps``, ``selector_canary_promoted``, ``selector_canary_retired``,
``selector_canary_broken``, and at a run's start ``selector_canary_resumed`` and
``selector_canary_looked_ahead``.

A canary an earlier run left is served again when the next run starts, judged afresh, or
retired when serving it would look ahead (the sizer line's rule, ``rl/sizer_canary.py``).
"""

from __future__ import annotations

from quantum_trader.rl.policy_canary import CanaryNames, PolicyCanary

NAMES = CanaryNames("selector", "decisions", "selection")
ACTOR = NAMES.actor  # "rule:selector_canary"


class SelectorCanary(PolicyCanary):
    """The ``ppo_selector`` line's canary rule (see the module docstring): a
    :class:`~quantum_trader.agents.policy_selector.CanaryRoute` for production's selector."""

    names = NAMES
