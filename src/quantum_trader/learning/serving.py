"""Serving: which registered version each ensemble member runs, loaded by registry stage.

A member is identified by (name, version). Serving reads the registry (PRODUCTION by default,
any stage on request), opens the version's artifact after its hash check and turns it into a
member with its family's loader (``learning/trainers.py``). A PRODUCTION version whose artifact
is altered or unreadable is refused, and the line's previous production version serves in its
place — the newest one still restorable (``production_stack``: replaced, not retired or rolled
back), trained on the same features and label, whose own artifact passes its check — so that one
corrupt file does not silence a member that served yesterday. Where there is none, and for a
configured model with no version at all, the member becomes a :class:`DisabledMember`: its
module shows DISABLED with the reason, and the consensus rule runs with the members that remain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from quantum_trader.domain.errors import ArtifactIntegrityError, DataError
from quantum_trader.features.labels import LabelSpec
from quantum_trader.learning.registry import (
    ModelKey,
    ModelRegistry,
    ModelVersion,
    Stage,
    production_stack,
)
from quantum_trader.learning.trainers import FAMILIES, FamilyKind
from quantum_trader.models.ensemble.ensemble import Ensemble, EnsembleConfig
from quantum_trader.models.ensemble.loading import ArtifactSource, MemberLoader
from quantum_trader.models.ensemble.member import DisabledMember, Member, MemberId
from quantum_trader.models.ensemble.weights import WeightProvider
from quantum_trader.status.registry import ModuleHandle


@dataclass(frozen=True, slots=True)
class LoadedMember:
    member: Member
    version: int | None  # the registry version it runs; None: disabled
    #: the version whose artifact failed to load: disabled because of it (``version`` None), or
    #: served by an earlier production version in its place (``version`` that one)
    refused: int | None = None
    refusal: str = ""  # why ``refused`` was refused

    @property
    def fallback(self) -> bool:
        """An earlier production version serves in place of a refused one."""
        return self.version is not None and self.refused is not None

    @property
    def id(self) -> MemberId:
        return MemberId(self.member.name, self.version)


def loaders_for(labels: LabelSpec, kind: FamilyKind | None = None) -> dict[str, MemberLoader]:
    """Each family's loader (of one kind, if given); forecasters read ``labels``' dead zone."""
    return {n: f.loader(labels) for n, f in FAMILIES.items() if kind is None or f.kind is kind}


#: the loaders that need no label definition (the tabular families'); a composition root adds
#: the forecasters' with its labels (``loaders_for``)
DEFAULT_LOADERS: Mapping[str, MemberLoader] = loaders_for(LabelSpec(), FamilyKind.TABULAR)


def version_in(registry: ModelRegistry, key: ModelKey, stage: Stage) -> ModelVersion | None:
    """The version of ``key`` in ``stage``: the production pointer's, else the newest."""
    if stage is Stage.PRODUCTION:
        return registry.production(key)
    found = [v for v in registry.versions(key) if v.stage is stage]
    return found[-1] if found else None


def load_member(
    name: str,
    key: ModelKey,
    registry: ModelRegistry,
    store: ArtifactSource,
    handle: ModuleHandle | None = None,
    loaders: Mapping[str, MemberLoader] = DEFAULT_LOADERS,
    *,
    stage: Stage = Stage.PRODUCTION,
) -> LoadedMember:
    """The member for ``name`` from ``key``'s version in ``stage``, or a DisabledMember why."""
    loader = loaders.get(name)
    if loader is None:
        return _disabled(name, f"no loader for model {name!r} in this build", handle)
    chosen = version_in(registry, key, stage)
    if chosen is None:
        return _disabled(name, f"no {stage} version of {key} in the registry", handle)
    try:
        return LoadedMember(loader(store.open(chosen.artifact_hash), handle), chosen.version)
    except REFUSALS as exc:
        reason = f"artifact of {key} v{chosen.version} is invalid: {exc}"
    if stage is Stage.PRODUCTION:
        earlier = _previous_production(name, chosen, registry, store, handle, loader)
        if earlier is not None:
            return LoadedMember(earlier[0], earlier[1], chosen.version, reason)
    return _disabled(name, reason, handle, refused=chosen.version)


#: what a version's artifact may fail with on load (its check, its contents, the file system)
REFUSALS = (ArtifactIntegrityError, DataError, OSError, ValueError)


def _previous_production(
    name: str,
    refused: ModelVersion,
    registry: ModelRegistry,
    store: ArtifactSource,
    handle: ModuleHandle | None,
    loader: MemberLoader,
) -> tuple[Member, int] | None:
    """The newest earlier production version of ``refused``'s line that may serve in its place
    and loads: still restorable, and trained on the same inputs and target (a version from
    before a change of features or label would read rows of another width or meaning)."""
    stack = production_stack(registry.history(refused.key))
    for number in reversed(stack):
        if number == refused.version:
            continue
        earlier = registry.get(refused.key, number)
        if not _same_inputs(earlier, refused):
            continue
        try:
            return loader(store.open(earlier.artifact_hash), handle), number
        except REFUSALS:
            continue  # that one is damaged too: look further back
    return None


def _same_inputs(a: ModelVersion, b: ModelVersion) -> bool:
    """Whether two versions read the same feature rows and learned the same label."""
    try:
        ma, mb = a.metadata, b.metadata
    except TypeError:  # not a direction model's lineage: nothing says they are alike
        return False
    return (ma.features, ma.label, ma.dead_zone, ma.timeframe) == (
        mb.features,
        mb.label,
        mb.dead_zone,
        mb.timeframe,
    )


def _disabled(
    name: str, reason: str, handle: ModuleHandle | None, *, refused: int | None = None
) -> LoadedMember:
    return LoadedMember(DisabledMember(name, reason, handle), None, refused)


def load_members(
    models: Sequence[str],
    scope: str,
    horizon: int,
    registry: ModelRegistry,
    store: ArtifactSource,
    handles: Mapping[str, ModuleHandle] | None = None,
    loaders: Mapping[str, MemberLoader] = DEFAULT_LOADERS,
    scopes: Mapping[str, str] | None = None,
    *,
    stage: Stage = Stage.PRODUCTION,
) -> list[LoadedMember]:
    """One member per enabled model, for the model lines ``<model>/<scope>/h<horizon>``;
    ``scopes`` overrides the scope per model (the forecasters are trained "global")."""
    handles = handles or {}
    scopes = scopes or {}
    return [
        load_member(
            name,
            ModelKey(name, scopes.get(name, scope), horizon),
            registry,
            store,
            handles.get(name),
            loaders,
            stage=stage,
        )
        for name in models
    ]


def ensemble_of(
    config: EnsembleConfig,
    loaded: Sequence[LoadedMember],
    weights: WeightProvider | None = None,
    handle: ModuleHandle | None = None,
) -> Ensemble:
    """An ensemble of loaded members that knows which version each one runs."""
    return Ensemble(
        config,
        [m.member for m in loaded],
        weights,
        handle,
        versions={m.member.name: m.version for m in loaded},
    )
