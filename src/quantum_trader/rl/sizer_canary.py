"""The RL sizer line's canary: a CANARY sizing policy sizes a share of production's entries,
and steps on, or is retired, on the line's shadow-pair evidence.

A sizer candidate that wins its candidate experiment enters CANARY (``app/policy_candidates.py``);
from then on :class:`SizerCanary` serves it, the way the model rollout (``learning/rollout.py``)
serves a CANARY model:

* **Share.** Production's RL sizer hands it the entries whose draw (:func:`canary_draw`, a
  stable hash of the seed, the symbol and the entry's engine time, so a replay assigns every
  entry alike) falls below its share, ``shares[canary_steps]`` with the rollout's shares
  (25 %, then 50 %); production sizes the others as before. Each entry records who sized it
  (``agents/rl_sizer.py``: the canary's by its version).
* **Evidence.** The line's shadow pair keeps serving the canary (its SHADOW landings wait until
  the canary ends, ``app/rl_sizing.py``): the challenger sizes every entry with it, the twin
  with ``QT_SIZER``'s sizer, both trading the same candles. Their per-candle net-return
  difference (basis points) feeds the always-valid mixture test the candidate experiments use
  (``experiments/sequential.py``: alpha 0.05, at least 100 candles, horizon 4,000), a fresh
  test per step.
* **Moves**, one audited registry move each, actor ``rule:sizer_canary``, the reading as the
  reason: better → the next share (``step_canary``), and after the last share PRODUCTION
  (production's sizer serves it); worse, broken (its policy failed on an entry: an error or a
  non-finite probability), no verdict by the horizon, or the line's production changed under
  it (its evidence was against the old production's sizing) → RETIRED, and production sizes
  100 % again. A move made by someone else (an operator's promote, retire or step) is taken up
  at the next candle.

**A canary an earlier run left** (killed, or ended before its canary was judged) is served again
when the next run starts, before the daemon's bootstrap (``PolicyCanary.resume``, wired by
``app/rl_serving.resume_canary``): at ``shares[canary_steps]``, the shadow account serving it
(the bootstrap's SHADOW landing waits), judged by this rule on the new run's evidence alone (the
earlier run's test was never stored). Serving it would look ahead when it was trained after the
replay's start, or entered CANARY (or took a step) after it: then it is retired at the start,
audited with this rule's actor, as one whose bundle is refused.

Not built: the risk engine's refusals are not a guardrail here: a canary sizes a fraction ``f <= 1`` of the base sizer's quantity, so its
orders are never larger than production's base would send.
"""

from __future__ import annotations

from quantum_trader.rl.policy_canary import (
    CanaryConfig,
    CanaryNames,
    CanaryServing,
    PolicyCanary,
    canary_draw,
)

__all__ = ["ACTOR", "CanaryConfig", "CanaryServing", "SizerCanary", "canary_draw"]

NAMES = CanaryNames("sizer", "entries", "sizing")
ACTOR = NAMES.actor  # "rule:sizer_canary"


class SizerCanary(PolicyCanary):
    """The ``rl_sizer`` line's canary rule (see the module docstring): a
    :class:`~quantum_trader.agents.rl_sizer.CanaryRoute` for production's RL sizer."""

    names = NAMES

    @property
    def entries(self) -> int:
        """The entries the canary sized (of :attr:`offered`)."""
        return self.taken
