"""Module 15's training in a run: the RL sizer's policy line, trained by module 16's daemon.

With ``RL_SIZING_ENABLED`` and ``QT_RL_AGENTS`` on, a second :class:`PolicyTrainer` (the same
daemon, worker and schedule as the selector's; ``rl/daemon.py``) trains the ``rl_sizer/global/h0``
line on the sizing environment (``rl/sizing_env.py``: the rule selector's entries, the action a
fraction of fixed-fractional's size), judges each policy on the held-out week against
fixed-fractional's whole size (f = 1), and registers it. No shadow account trades a sizing
policy, so none has the forward evidence PRODUCTION needs: each stays in SHADOW, and
production's :class:`~quantum_trader.agents.rl_sizer.RLSizer` keeps handing every entry to
``QT_SIZER``'s sizer — ``status`` says so, with the SHADOW policy's held-out mean fraction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.rl_sizer import RLSizer
from quantum_trader.app.rl_serving import SIZING_MODULE
from quantum_trader.app.runtime import Runtime
from quantum_trader.clock.worker_jobs import Worker
from quantum_trader.learning.registry import Stage
from quantum_trader.lifecycle import ComponentContext
from quantum_trader.rl.daemon import PolicyTrainer
from quantum_trader.status.registry import ModuleHandle, ModuleState
from quantum_trader.strategy.sizing import PositionSizer


@dataclass(slots=True)
class SizerTraining:
    """The sizer's policy line in a run: its trainer and production's sizer."""

    sizer: RLSizer
    trainer: PolicyTrainer
    handle: ModuleHandle  # module 15's

    def on_serving(self, stage: Stage, policy: OnnxPolicy) -> None:
        if stage is Stage.PRODUCTION:
            self.sizer.replace(policy)
            self.handle.gauge("production_version", policy.registry_version or 0)
        else:
            self.handle.gauge("shadow_version", policy.registry_version or 0)
        self.handle.count(f"policies_{stage.value.lower()}")

    def start(self, ctx: ComponentContext, worker: Worker, now: int) -> None:
        """Train (or reuse) the line's first policy, then follow the schedule."""
        self.trainer.bootstrap(now, worker)
        self.trainer.start(ctx.scheduler, worker, ctx.clock.now)

    def finish(self, base: str) -> None:
        """Module 15's status reason: which policy stands where, who sized production."""
        production = self.trainer.registry.production(self.trainer.key)
        serving = self.trainer.serving_version()
        c = self.handle.status.counters
        by_policy, by_base = c.get("decided_by_policy", 0), c.get("decided_by_fallback", 0)
        last = self.trainer.last_result
        held = "" if last is None else f"; last held-out: {last.held_out.summary()}"
        if production is not None:
            where = f"rl_sizer v{production.version} in PRODUCTION"
        elif serving is not None:
            where = (f"rl_sizer v{serving.version} in SHADOW (no shadow account trades a sizing "
                     "policy, so none has the forward evidence PRODUCTION needs)")  # fmt: skip
        else:
            where = "no sizing policy trained"
        if self.handle.status.state is ModuleState.ACTIVE:
            self.handle.set_state(
                ModuleState.ACTIVE,
                f"{where}; entries sized by the policy {by_policy}, by {base} {by_base}{held}",
            )


def attach_rl_sizing(
    rt: Runtime, sizer: PositionSizer, make_trainer: Callable[[], PolicyTrainer]
) -> SizerTraining | None:
    """The sizer's line when production's sizer is the RL sizer (else None)."""
    handle = rt.modules.get(SIZING_MODULE)
    if not isinstance(sizer, RLSizer) or handle is None or not handle.enabled:
        return None
    training = SizerTraining(sizer, make_trainer(), handle)
    training.trainer.on_serving = training.on_serving
    return training
