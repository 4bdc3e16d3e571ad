"""Promotions reach a running engine: the production watcher swaps ensemble members.

Another process (``quantum-trader models promote`` / ``rollback``, later the rollout rules)
writes the registry in the database. :meth:`ProductionWatcher.refresh`, a scheduler job on the
engine clock, reads the stage changes written since its last look, publishes each one as
``model.stage_changed`` and, for every line whose PRODUCTION version changed and that an
ensemble here serves, loads the new version and swaps it in with :meth:`Ensemble.replace`.
The job runs between two decisions on the engine's thread, so no decision mixes versions.

A version that cannot be loaded (missing or altered artifact) becomes a disabled member, as at
startup: the ensemble never keeps running a version the registry has retired.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from quantum_trader.bus import topics
from quantum_trader.bus.port import EventBus
from quantum_trader.bus.typed import publish_event
from quantum_trader.domain.events import ModelStageChange
from quantum_trader.learning.registry import ModelKey, ModelRegistry, Stage, StageChange
from quantum_trader.learning.serving import LoadedMember, load_member
from quantum_trader.models.ensemble.ensemble import Ensemble
from quantum_trader.models.ensemble.loading import ArtifactSource, MemberLoader
from quantum_trader.status.registry import ModuleHandle, ModuleState

#: published for each stage change the watcher reads; a typed record for it is defined with
#: the other topics (bus/topics.py), until then the payload is the plain mapping below
SOURCE = "learning.production_watcher"
#: how a new production version takes its slot (default: ``Ensemble.replace``; continuous
#: learning's slots keep their challenger, ``learning/rollout.py`` SlotBook.swap)
Swap = Callable[[Ensemble, str, LoadedMember], None]


def registry_cursor(registry: ModelRegistry) -> int:
    """The registry's newest stage-change position: read it *before* loading the members, and
    give it to the watcher, so that a promotion written in between is not missed."""
    changes = registry.changes_after(0)
    return changes[-1][0] if changes else 0


class ProductionWatcher:
    """Keeps the ensembles of the symbols it serves on their lines' PRODUCTION versions.

    ``ensembles`` maps each served symbol to its ensemble; a member ``name`` of a symbol serves
    the line ``name/<scopes.get(name, symbol)>/h<horizon>`` (the forecasters' scope is
    "global": one load then serves every symbol). ``loaders`` must open each artifact anew (no
    per-folder cache): a cached loader would hand back the old version.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        store: ArtifactSource,
        ensembles: Mapping[str, Ensemble],
        *,
        horizon: int,
        loaders: Mapping[str, MemberLoader],
        scopes: Mapping[str, str] | None = None,
        cursor: int | None = None,
        bus: EventBus | None = None,
        handle: ModuleHandle | None = None,
        handles: Mapping[str, ModuleHandle] | None = None,
        swap: Swap | None = None,
    ) -> None:
        self._registry = registry
        self._store = store
        self._ensembles = dict(ensembles)
        self._horizon = horizon
        self._loaders = dict(loaders)
        self._scopes = dict(scopes or {})
        self._cursor = registry_cursor(registry) if cursor is None else cursor
        self._bus = bus
        self._handle = handle
        self._handles = dict(handles or {})
        self._swap = swap

    @property
    def cursor(self) -> int:
        return self._cursor

    def refresh(self, now: int) -> int:
        """Read the stage changes since the last look, publish them, swap the members whose
        production version changed; returns the number of ensemble members swapped.

        ``now`` is the engine time the scheduler runs the job at; the registry is read as it
        stands (another process writes it on the wall clock).
        """
        changes = self._registry.changes_after(self._cursor)
        if not changes:  # no counter here: how often it reads depends on wall time in a replay
            return 0
        for _position, change in changes:
            self._publish(change)
        self._cursor = changes[-1][0]
        if self._handle is not None:
            self._handle.count("stage_changes_seen", len(changes))
        moved = [c.key for _, c in changes if Stage.PRODUCTION in (c.from_stage, c.to_stage)]
        return sum(self._serve(key) for key in dict.fromkeys(moved))

    def _symbols(self, key: ModelKey) -> list[str]:
        if key.horizon != self._horizon:
            return []
        return [
            symbol
            for symbol, ensemble in self._ensembles.items()
            if key.model in ensemble.config.models
            and self._scopes.get(key.model, symbol) == key.scope
        ]

    def _serve(self, key: ModelKey) -> int:
        """Swap ``key``'s production version into every ensemble it serves that runs another."""
        symbols = self._symbols(key)
        if not symbols:
            return 0
        current = self._registry.production(key)
        wanted = None if current is None else current.version
        loaded: LoadedMember | None = None
        swapped = 0
        for symbol in symbols:
            ensemble = self._ensembles[symbol]
            running = next(m.version for m in ensemble.member_ids if m.name == key.model)
            if running == wanted:
                continue  # already serving it (or, with none in production, already disabled)
            if loaded is None:
                loaded = self._load(key, expected=wanted is not None)
            if self._swap is not None:
                self._swap(ensemble, symbol, loaded)
            else:
                ensemble.replace(loaded.member, loaded.version)
            swapped += 1
        if swapped and self._handle is not None:
            self._handle.count("member_swaps", swapped)
        return swapped

    def _load(self, key: ModelKey, *, expected: bool) -> LoadedMember:
        handle = self._handles.get(key.model)
        loaded = load_member(key.model, key, self._registry, self._store, handle, self._loaders)
        failed = loaded.version is None or loaded.fallback
        if failed and expected and self._handle is not None:
            self._handle.count("swap_failures")
        if loaded.fallback and handle is not None and handle.enabled:
            handle.set_state(
                ModuleState.DEGRADED,
                f"{key} v{loaded.refused} refused ({loaded.refusal}); previous production "
                f"v{loaded.version} serves",
            )
        elif loaded.version is not None and handle is not None and handle.enabled:
            handle.set_state(ModuleState.ACTIVE, f"serving {key} v{loaded.version}")
        return loaded

    def _publish(self, change: StageChange) -> None:
        if self._bus is None:
            return
        publish_event(
            self._bus,
            topics.MODEL_STAGE_CHANGED,
            ModelStageChange(
                change.key.model,
                change.key.scope,
                change.key.horizon,
                change.version,
                None if change.from_stage is None else change.from_stage.value,
                change.to_stage.value,
                change.action.value,
                change.actor,
                change.reason,
                change.at,
            ),
            source=SOURCE,
        )
