"""Module 15's training in a run: the RL sizer's policy line, trained by module 16's daemon.

With ``RL_SIZING_ENABLED`` and ``QT_RL_AGENTS`` on, a second :class:`PolicyTrainer` (the same
daemon, worker and schedule as the selector's; ``rl/daemon.py``) trains the ``rl_sizer/global/h0``
line on the sizing environment (``rl/sizing_env.py``: the rule selector's entries, the action a
fraction of fixed-fractional's size), judges each policy on the held-out week against
fixed-fractional's whole size (f = 1), and registers it in SHADOW.

**The shadow account.** A :class:`~quantum_trader.decision.shadow.ShadowPair`
(``ShadowComposer.sizer_pair``) follows the replay: the challenger account sizes its entries
with an RL sizer serving the line's SHADOW policy (swapped at each landing), the twin with
``QT_SIZER``'s sizer; both choose strategies as production does. The pair's paired Sharpe
difference is the line's forward evidence: as for the selector's line, a policy goes to
PRODUCTION only when its held-out week and the shadow account both beat the base (95 % intervals
above zero, at least 30 shadow trades). Until then production's
:class:`~quantum_trader.agents.rl_sizer.RLSizer` hands every entry to ``QT_SIZER``'s sizer, and
``status`` says so, with the fractions the SHADOW policy chose in its account.

**The canary.** A policy that wins its candidate experiment enters CANARY
(``app/policy_candidates.py``); :func:`attach_sizer_canary` has
``rl/sizer_canary.SizerCanary`` serve it: production's sizer hands it its share of the entries,
the shadow account keeps serving it as its evidence (a SHADOW landing waits, counted
``shadow_landings_held``, and is served when the canary ends), and the rule steps it on to
PRODUCTION, which production's sizer then serves, or retires it. A CANARY an earlier run left
is served again when the line starts (:meth:`SizerTraining.start`), or retired when serving it
would look ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.agents.rl_sizer import RLSizer
from quantum_trader.agents.sizing_observation import sizing_observation
from quantum_trader.app.compose import base_sizer
from quantum_trader.app.rl_serving import (
    SIZING_MODULE,
    policy_canary,
    resume_canary,
    still_in_shadow,
)
from quantum_trader.app.runtime import Runtime
from quantum_trader.app.shadow_trading import ShadowComposer, follow_pair, forward_evidence
from quantum_trader.clock.worker_jobs import Worker
from quantum_trader.decision.shadow import PairFigures, ShadowTrading
from quantum_trader.engine.engine import Bar, BarHandler, BarSkipper
from quantum_trader.learning.registry import Stage
from quantum_trader.lifecycle import ComponentContext
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.rl.daemon import PolicyTrainer
from quantum_trader.rl.sizer_canary import SizerCanary
from quantum_trader.status.registry import ModuleHandle, ModuleState
from quantum_trader.strategy.sizing import PositionSizer


@dataclass(slots=True)
class SizerTraining:
    """The sizer's policy line in a run: its trainer and production's sizer."""

    sizer: RLSizer
    trainer: PolicyTrainer
    handle: ModuleHandle  # module 15's
    shadow: RLSizer | None = None  # the shadow account's (None: it could not start)
    trading: ShadowTrading | None = None
    figures: PairFigures | None = None
    #: told after each policy is served, with its stage (``app/policy_candidates.py``: a
    #: SHADOW landing gets a candidate experiment)
    serving_listeners: list[Callable[[Stage, OnnxPolicy], object]] = field(default_factory=list)
    canary: SizerCanary | None = None  # the line's canary rule (None: no shadow pair)
    held: OnnxPolicy | None = None  # a SHADOW landing waiting while the canary holds the account

    def on_serving(self, stage: Stage, policy: OnnxPolicy) -> None:
        if stage is Stage.PRODUCTION:
            self.sizer.replace(policy)
            self.handle.gauge("production_version", policy.registry_version or 0)
        elif self.canary is not None and self.canary.holds_shadow:
            self.held = policy  # its candidate experiment waits for the account too
            self.handle.count("shadow_landings_held")
            self.handle.count(f"policies_{stage.value.lower()}")
            return
        else:
            if self.shadow is not None:
                self.shadow.replace(policy)
            self.handle.gauge("shadow_version", policy.registry_version or 0)
        self.handle.count(f"policies_{stage.value.lower()}")
        for listener in self.serving_listeners:
            listener(stage, policy)

    def release(self) -> None:
        """The canary ended: the SHADOW landing that waited (if still in SHADOW) is served."""
        held, self.held = self.held, None
        if held is not None and still_in_shadow(self.trainer, held):
            self.on_serving(Stage.SHADOW, held)

    def start(self, ctx: ComponentContext, worker: Worker, now: int) -> None:
        """Serve again the CANARY an earlier run left (or retire it: ``resume_canary``), train
        (or reuse) the line's first policy, then follow the schedule."""
        resume_canary(self.canary, self.trainer, self.on_serving, now)
        self.trainer.bootstrap(now, worker)
        self.trainer.start(ctx.scheduler, worker, ctx.clock.now)

    def finish(self, base: str) -> None:
        """Module 15's status reason: which policy stands where, who sized production, and the
        shadow account's fractions and figures."""
        if self.trading is not None:
            self.trading.finish_all()
        production = self.trainer.registry.production(self.trainer.key)
        serving = self.trainer.serving_version()
        c = self.handle.status.counters
        by_policy, by_base = c.get("decided_by_policy", 0), c.get("decided_by_fallback", 0)
        canary = c.get("decided_by_canary", 0)
        policy = f"{by_policy}" if not canary else f"{by_policy}, by a canary {canary}"
        last = self.trainer.last_result
        held = "" if last is None else f"; last held-out: {last.held_out.summary()}"
        held += self._shadow_text(base) + self._canary_text()
        if production is not None:
            where = f"rl_sizer v{production.version} in PRODUCTION"
        elif serving is not None:
            where = (f"rl_sizer v{serving.version} in SHADOW: no policy has beaten {base} both on "
                     "its held-out week and in the shadow account")  # fmt: skip
        else:
            where = "no sizing policy trained"
        if self.handle.status.state is ModuleState.ACTIVE:
            self.handle.set_state(
                ModuleState.ACTIVE,
                f"{where}; entries sized by the policy {policy}, by {base} {by_base}{held}",
            )

    def summary(self) -> dict[str, object] | None:
        """The shadow account's part of the run summary (None before the pair finished)."""
        if self.shadow is None or self.figures is None:
            return None
        return {
            "entries_sized": self.shadow.decisions,
            "mean_fraction": self.shadow.mean_fraction,
            "verdict": self.figures.summary(),
        }

    def _canary_text(self) -> str:
        canary = self.canary
        if canary is None or (canary.serving is None and not canary.moves):
            return ""
        serving = canary.serving
        now = "" if serving is None else f"v{serving.version} at {serving.share:.0%}, "
        moves = "; ".join(canary.moves[-2:]) or "no move yet"
        return f"; canary: {now}{canary.entries} of {canary.offered} entries; {moves}"

    def _shadow_text(self, base: str) -> str:
        shadow, figures = self.shadow, self.figures
        if shadow is None or figures is None:
            return ""
        return (
            f"; shadow account: {shadow.decisions} entries, mean f {shadow.mean_fraction:.2f}, "
            f"vs {base}: {figures.summary()}"
        )


def attach_rl_sizing(
    rt: Runtime,
    sizer: PositionSizer,
    make_trainer: Callable[[], PolicyTrainer],
    composer: ShadowComposer,
    replay: Callable[[], Iterable[Bar]],
) -> SizerTraining | None:
    """The sizer's line when production's sizer is the RL sizer (else None), with its pair of
    shadow accounts started at the clock's now (see the module docstring)."""
    handle = rt.modules.get(SIZING_MODULE)
    if not isinstance(sizer, RLSizer) or handle is None or not handle.enabled:
        return None
    settings = rt.settings
    training = SizerTraining(sizer, make_trainer(), handle)
    training.trainer.on_serving = training.on_serving
    shadow = RLSizer(None, sizing_observation, base=base_sizer(settings), name="rl_sizer_shadow")
    try:
        pair = composer.sizer_pair(shadow, rt.clock.now(), replay=replay)
    except (OSError, ValueError) as exc:  # the store's warm-up candles cannot be read
        handle.set_state(ModuleState.DEGRADED, f"its shadow accounts could not start: {exc}")
        return training

    def finished(figures: PairFigures) -> None:
        training.figures = figures
        handle.gauge("shadow_entries_sized", shadow.decisions)
        handle.gauge("shadow_mean_fraction_bp", round(shadow.mean_fraction * 10_000))

    training.shadow = shadow
    training.trainer.forward = forward_evidence(pair)
    training.trading = follow_pair(composer, pair, handle, finished)
    twin, challenger = pair.twin.portfolio, pair.challenger.portfolio
    follow = composer.session.follow
    attach_sizer_canary(training, twin, challenger, follow, seed=settings.seed,
                        control=settings.sizer)  # fmt: skip
    return training


def attach_sizer_canary(
    training: SizerTraining,
    twin: Portfolio,
    challenger: Portfolio,
    follow: Callable[[BarHandler, BarSkipper], object],
    *,
    seed: int,
    control: str,
) -> SizerCanary:
    """The line's canary rule over its shadow pair's sub-ledgers (``twin``, ``challenger``),
    routed by production's sizer, told of CANARY promotions by the line's listeners and fed by
    ``follow`` (the session's, after the pair) as handler and fast-forward side."""
    canary = policy_canary(
        SizerCanary, training.trainer, training.handle, (twin, challenger), follow,
        on_serving=training.on_serving, on_release=training.release,
        listeners=training.serving_listeners, seed=seed, control=control,
    )  # fmt: skip
    training.canary = training.sizer.canary = canary
    return canary
