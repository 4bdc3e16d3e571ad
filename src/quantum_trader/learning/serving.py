"""Serving: which registered version each ensemble member runs, loaded by registry stage.

A member is identified by (name, version). Serving reads the registry (PRODUCTION by default,
any stage on request), opens the version's artifact after its hash check and turns it into a
member with its family's loader (``learning/trainers.py``). A configured model whose version is
missing, altered or unreadable becomes a :class:`DisabledMember`: its module shows DISABLED
with the reason, and the consensus rule runs with the members that remain (never with a
substitute).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from quantum_trader.domain.errors import ArtifactIntegrityError, DataError
from quantum_trader.features.labels import LabelSpec
from quantum_trader.learning.registry import ModelKey, ModelRegistry, ModelVersion, Stage
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
    refused: int | None = None  # disabled because this version's artifact failed to load

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
    except (ArtifactIntegrityError, DataError, OSError, ValueError) as exc:
        reason = f"artifact of {key} v{chosen.version} is invalid: {exc}"
        return _disabled(name, reason, handle, refused=chosen.version)


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
