"""Wires the candidate experiments of the training daemon's policy lines (module 16 trains two:
the PPO selector's, ``app/rl_agents.py``, and the RL sizer's, ``app/rl_sizing.py``) to a run.

Both lines work alike, so both are wired by :func:`attach_policy_candidates` over a
:class:`PolicyLine`: each has one pair of shadow accounts that follows the replay, whose
challenger serves the line's SHADOW policy (swapped at each landing) and whose twin decides as
production does while the line has no PRODUCTION policy (production's policy selector and RL
sizer hand every decision to ``QT_SELECTOR``'s and ``QT_SIZER``'s, the twin's). Each SHADOW
landing, heard from the line's ``serving_listeners``, is a candidate of the line's
``experiments/candidates.CandidateExperiments``: production (the twin's sub-ledger) against the
candidate (the challenger's), with its guard, supersede and end rules.

The sizer's pair is built by ``ShadowComposer.sizer_pair``: both accounts serve production's
members and selector, trade at the same prices, fees, slippage and funding, and differ only in
the sizer, so its paired per-candle differences measure the sizing alone. Its experiments' arms
are of kind ``sizer``, and a winning candidate is promoted one stage through the model registry
(SHADOW → CANARY, the path the run's own experiment takes for a PPO winner), with the outcome
in the experiment's audit; the line's listeners hear ``(CANARY, policy)`` with the policy its
shadow account served, and the sizer's canary rule serves it from there
(``app/rl_sizing.attach_sizer_canary``). The selector line's winner is promoted the same way
(its arms stay of kind ``policy``), and the selector's canary rule serves it
(``app/rl_agents.attach_selector_canary``), as it serves a PPO policy that wins the run's own
experiment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quantum_trader.agents.onnx_policy import OnnxPolicy
from quantum_trader.app.runtime import Runtime
from quantum_trader.domain.time import fmt
from quantum_trader.engine.session import TradingSession
from quantum_trader.experiments.candidates import (
    CONTROL,
    TREATMENT,
    Candidate,
    CandidateExperiments,
)
from quantum_trader.experiments.experiment import Promoter, Result
from quantum_trader.experiments.records import ExperimentStore
from quantum_trader.experiments.spec import ExperimentSpec
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage
from quantum_trader.lifecycle import Hooks, Lifecycle
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.rl.daemon import MODULE as TRAINING_MODULE
from quantum_trader.status.registry import ModuleHandle

#: told ``(stage, policy)`` after the daemon serves a policy of the line, and after a winning
#: candidate's promotion (CANARY)
ServingListeners = list[Callable[[Stage, OnnxPolicy], object]]


@dataclass(frozen=True, slots=True)
class PolicyLine:
    """One policy line of the daemon as its candidate experiments see it."""

    key: ModelKey
    registry: ModelRegistry
    twin: Portfolio  # the control arm's sub-ledger
    challenger: Portfolio  # the treatment arm's
    production: Callable[[], OnnxPolicy | None]  # production's policy now (None: the base's)
    shadow: Callable[[], OnnxPolicy | None]  # the challenger account's now
    base: str  # who decides while no policy serves (``QT_SELECTOR``'s or ``QT_SIZER``'s name)
    listeners: ServingListeners
    kind: str = "policy"  # the arms' kind (``experiments/spec.ARM_KINDS``)
    #: what its evidence names start with: ``""`` for the selector (``candidate_…``, as before
    #: the sizer had any), ``"sizer_"`` for the sizer
    prefix: str = ""
    promote: bool = False  # a winning candidate is promoted one stage (see the module notes)


def attach_policy_candidates(
    rt: Runtime,
    session: TradingSession,
    lifecycle: Lifecycle,
    line: PolicyLine,
    store: ExperimentStore,
    handle: ModuleHandle,
) -> CandidateExperiments:
    """``line``'s candidate experiments: the SHADOW policy serving now gets one (or resumes its
    own), and each one the daemon lands later; fed after the line's pair on every candle of
    ``session`` and shown on ``handle`` (module 18's)."""
    name = str(line.key)

    def version(arm: str) -> str:
        policy = (line.production if arm == CONTROL else line.shadow)()
        return f"no policy: {line.base}" if policy is None else policy.version

    promoter = None if not line.promote else _promoter(line, handle.status.name)
    candidates = CandidateExperiments(
        store, name, line.twin, line.challenger, version, seed=rt.settings.seed,
        on_change=lambda: show(candidates, handle, line.prefix), promoter=promoter,
    )  # fmt: skip

    def on_serving(stage: Stage, policy: OnnxPolicy) -> None:
        number, now = policy.registry_version, rt.clock.now()
        if number is None:
            return
        if stage is Stage.PRODUCTION:
            candidates.production_changed(policy.version, now)
        elif stage is Stage.SHADOW:
            why = f"{TRAINING_MODULE} put {name} v{number} in {stage.value} at {fmt(now)}"
            candidates.land(Candidate(name, number, why, kind=line.kind), now)

    now, serving = rt.clock.now(), line.shadow()  # the daemon served it before the replay
    if serving is not None and serving.registry_version is not None:
        number = serving.registry_version
        if line.registry.get(line.key, number).stage is Stage.SHADOW:
            why = f"{TRAINING_MODULE}: {name} v{number} serves in SHADOW at {fmt(now)}"
            candidates.land(Candidate(name, number, why, kind=line.kind), now)
    line.listeners.append(on_serving)
    session.follow(candidates.on_bar)  # after the pair: its accounts acted on the candle
    hook = f"{handle.status.name}.{line.prefix}candidates"
    lifecycle.start(Hooks(hook, stop=candidates.finish))
    return candidates


def _promoter(line: PolicyLine, module: str) -> Callable[[Candidate], Promoter]:
    """A winning candidate goes one stage forward through the registry (its normal path, with
    its rollback); a winning control, or a candidate that left SHADOW meanwhile (the daemon
    retired it, the operator moved it), is audited only."""

    def for_candidate(candidate: Candidate) -> Promoter:
        def promote(spec: ExperimentSpec, result: Result) -> str:
            if result.arm != TREATMENT:
                return f"{result.arm} won: {line.key} v{candidate.version} is not promoted"
            stage = line.registry.get(line.key, candidate.version).stage
            if stage is not Stage.SHADOW:
                return f"{line.key} v{candidate.version} is {stage.value} now: not promoted"
            done = line.registry.promote(line.key, candidate.version,
                                         actor=f"{module}:{spec.name}", reason=result.summary())  # fmt: skip
            served = line.shadow()  # the candidate's arm: its policy
            if served is not None and served.registry_version == candidate.version:
                for listener in list(line.listeners):
                    listener(done.stage, served)
            return f"{line.key} v{candidate.version} promoted to {done.stage.value}"

        return promote

    return for_candidate


def summary(candidates: CandidateExperiments) -> dict[str, Any]:
    """A line's part of the run summary's ``ab_testing``."""
    e = candidates.experiment
    return {
        "line": candidates.line,
        "running": None if e is None or not e.running else e.spec.name,
        "created": list(candidates.created),
        "superseded": list(candidates.superseded),
        "skipped": len(candidates.skipped),
        "skip_reason": candidates.skip_reason,
        "text": None if e is None else e.summary(),
    }


def show(candidates: CandidateExperiments, handle: ModuleHandle, prefix: str = "") -> None:
    """A line's evidence on module 18's status, its names starting with ``prefix``."""
    handle.gauge(f"{prefix}candidate_experiments_created", len(candidates.created))
    handle.gauge(f"{prefix}candidate_experiments_superseded", len(candidates.superseded))
    handle.gauge(f"{prefix}candidate_experiments_skipped", len(candidates.skipped))
    e = candidates.experiment
    handle.gauge(f"{prefix}candidate_observations", 0 if e is None else e.result.samples)
