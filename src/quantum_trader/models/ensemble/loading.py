"""Build ensemble members from the registry's PRODUCTION versions.

A configured model whose production artifact is missing, altered or unreadable becomes a
:class:`DisabledMember`: its module shows DISABLED with the reason, and the consensus rule
runs with the members that remain (never with a substitute).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from quantum_trader.domain.errors import ArtifactIntegrityError, DataError
from quantum_trader.learning.registry import ModelKey, ModelRegistry
from quantum_trader.models.ensemble.member import DisabledMember, Member, TabularMember
from quantum_trader.models.tabular.base import TabularModel
from quantum_trader.models.tabular.training import TABULAR_MODELS
from quantum_trader.status.registry import ModuleHandle

#: Opens a verified artifact folder as an ensemble member (its status handle counts evidence).
MemberLoader = Callable[[Path, ModuleHandle | None], Member]


def tabular_loader(cls: type[TabularModel]) -> MemberLoader:
    def load(directory: Path, handle: ModuleHandle | None) -> Member:
        return TabularMember(cls.load(directory, handle=handle))

    return load


#: The loaders this package knows; a composition root adds others (the forecasters).
DEFAULT_LOADERS: dict[str, MemberLoader] = {
    name: tabular_loader(cls) for name, cls in TABULAR_MODELS.items()
}


class ArtifactSource(Protocol):
    def open(self, digest: str) -> Path:
        """The artifact's folder after its hash check (ArtifactIntegrityError otherwise)."""
        ...


def load_member(
    name: str,
    key: ModelKey,
    registry: ModelRegistry,
    store: ArtifactSource,
    handle: ModuleHandle | None = None,
    loaders: Mapping[str, MemberLoader] = DEFAULT_LOADERS,
) -> Member:
    """The member for ``name`` from its production version, or a DisabledMember saying why."""
    loader = loaders.get(name)
    if loader is None:
        return DisabledMember(name, f"no loader for model {name!r} in this build", handle)
    production = registry.production(key)
    if production is None:
        return DisabledMember(name, f"no PRODUCTION version of {key} in the registry", handle)
    try:
        return loader(store.open(production.artifact_hash), handle)
    except (ArtifactIntegrityError, DataError, OSError, ValueError) as exc:
        return DisabledMember(
            name, f"artifact of {key} v{production.version} is invalid: {exc}", handle
        )


def load_members(
    models: Sequence[str],
    scope: str,
    horizon: int,
    registry: ModelRegistry,
    store: ArtifactSource,
    handles: Mapping[str, ModuleHandle] | None = None,
    loaders: Mapping[str, MemberLoader] = DEFAULT_LOADERS,
    scopes: Mapping[str, str] | None = None,
) -> list[Member]:
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
        )
        for name in models
    ]
