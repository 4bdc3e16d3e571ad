"""The artifacts a run leaves: what can never serve again goes when the run ends.

Every training stores its artifact whatever the gate decides; a 90-day replay leaves about
300 MiB, almost all of it versions the gate RETIRED (docs/learning.md, "Artifact retention").
With ``QT_PRUNE_ARTIFACTS`` (on by default) the run removes them as it stops, exactly what
``quantum-trader models prune`` removes (``learning/retention.py``): the component is started
right after the operator log, so it stops after every trainer and worker has, and the run
still holds the engine lock, so nothing trains, registers or stores meanwhile. Its figures are
the ``model_registry`` module's counters ``artifacts_pruned`` and ``artifact_bytes_pruned``,
and one ``artifacts.pruned`` log line.
"""

from __future__ import annotations

from quantum_trader.adapters.artifacts import LocalArtifactStore
from quantum_trader.adapters.sql.registry_repository import SqlRegistryRepository
from quantum_trader.app.runtime import Runtime
from quantum_trader.learning.registry import ModelRegistry
from quantum_trader.learning.retention import prune, retention
from quantum_trader.lifecycle import Hooks
from quantum_trader.observability.logging import get_logger

log = get_logger(__name__)


def end_of_run_pruning(rt: Runtime, artifacts: LocalArtifactStore) -> Hooks:
    """The component that prunes ``artifacts`` when the run stops (nothing when the setting is
    off)."""

    def stop() -> None:
        if not rt.settings.prune_artifacts:
            return
        registry = ModelRegistry(SqlRegistryRepository(rt.db), rt.clock)
        pruned = prune(retention(registry.versions(), registry.history), artifacts)
        handle = rt.modules.get("model_registry")
        if handle is not None:
            handle.count("artifacts_pruned", pruned.artifacts)
            handle.count("artifact_bytes_pruned", pruned.freed)
        log.info(
            "artifacts.pruned",
            removed=pruned.artifacts,
            freed_mib=round(pruned.freed / 2**20, 1),
            kept=len(pruned.kept),
        )

    return Hooks("model_registry.retention", stop=stop)
