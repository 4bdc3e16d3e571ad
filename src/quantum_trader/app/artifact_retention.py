"""The artifacts a run leaves: what can never serve again goes, once a day and when it ends.

Every training stores its artifact whatever the gate decides; a 90-day replay leaves about
300 MiB, almost all of it versions the gate RETIRED (docs/learning.md, "Artifact retention").
With ``QT_PRUNE_ARTIFACTS`` (on by default) the run removes them, exactly what ``quantum-trader
models prune`` removes (``learning/retention.py``):

* **once a day of engine time**, on the engine thread (where versions are registered and
  retired): only versions that could no longer serve before the oldest training still in
  flight was prepared, since that training may still read what served then (its warm start,
  production's members), and no folder a training in flight has stored (it may write the very
  bytes of a retired version: a replay of the same window on the same home trains the same
  weights again). A live run that never stops no longer grows without end.
* **as the run stops**: the component is started right after the operator log, so it stops
  after every trainer and worker has; nothing is in flight, and the run still holds the
  engine lock, so nothing trains, registers or stores meanwhile.

Its figures are the ``model_registry`` module's counters ``artifacts_pruned`` and
``artifact_bytes_pruned`` (of which ``artifacts_pruned_in_run`` by the daily prune), and an
``artifacts.pruned`` log line (with its wall milliseconds) whenever one removes something, and
always at the end.
"""

from __future__ import annotations

import time

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.runtime import Runtime
from quantum_trader.domain.time import MS_PER_DAY
from quantum_trader.learning.registry import ModelRegistry
from quantum_trader.learning.retention import prune, retention
from quantum_trader.lifecycle import ComponentContext, Hooks
from quantum_trader.observability.logging import get_logger

log = get_logger(__name__)

JOB = "model_registry.retention"
#: how often a run prunes while it runs (engine time)
EVERY_MS = MS_PER_DAY


def run_pruning(rt: Runtime, artifacts: LocalArtifactStore) -> Hooks:
    """The component that prunes ``artifacts`` daily and when the run stops (nothing when the
    setting is off)."""
    registry = ModelRegistry(SqlRegistryRepository(rt.db), rt.clock)

    def once(settled_before: int | None, touched_after: float | None = None) -> None:
        """Prune; ``settled_before`` None: at the end (nothing in flight), else during the run."""
        began = time.perf_counter()
        plan = retention(registry.versions(), registry.history, settled_before=settled_before)
        pruned = prune(plan, artifacts, keep_if_touched_after=touched_after)
        during_run = settled_before is not None
        handle = rt.modules.get("model_registry")
        if handle is not None and pruned.artifacts:
            handle.count("artifacts_pruned", pruned.artifacts)
            handle.count("artifact_bytes_pruned", pruned.freed)
            if during_run:
                handle.count("artifacts_pruned_in_run", pruned.artifacts)
        if pruned.artifacts or not during_run:  # a daily prune that removed nothing is quiet
            log.info(
                "artifacts.pruned",
                during_run=during_run,
                removed=pruned.artifacts,
                freed_mib=round(pruned.freed / 2**20, 1),
                kept=len(pruned.kept),
                wall_ms=round((time.perf_counter() - began) * 1000, 1),
            )

    def daily(now: int) -> None:
        oldest = rt.scheduler.oldest_in_flight()
        if oldest is None:
            once(now + 1)
        else:
            once(oldest.ran_at, oldest.handed_at)

    def start(ctx: ComponentContext) -> None:
        if rt.settings.prune_artifacts:
            ctx.scheduler.every(
                JOB, EVERY_MS, daily, start_at=ctx.clock.now() + EVERY_MS, catch_up=False
            )

    def stop() -> None:
        if rt.settings.prune_artifacts:
            once(None)

    return Hooks(JOB, start=start, stop=stop)
