"""Build ensemble members from the registry's PRODUCTION versions.

A configured model whose production artifact is missing, altered or unreadable becomes a
:class:`DisabledMember`: its module shows DISABLED with the reason, and the consensus rule
runs with the members that remain (never with a substitute).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from quantum_trader.domain.errors import ArtifactIntegrityError, DataError
from quantum_trader.learning.registry import ModelKey, ModelRegistry
from quantum_trader.models.ensemble.member import DisabledMember, Member, TabularMember
from quantum_trader.models.tabular.base import TabularModel
from quantum_trader.models.tabular.training import TABULAR_MODELS
from quantum_trader.status.registry import ModuleHandle


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
    loaders: Mapping[str, type[TabularModel]] = TABULAR_MODELS,
) -> Member:
    """The member for ``name`` from its production version, or a DisabledMember saying why."""
    cls = loaders.get(name)
    if cls is None:
        return DisabledMember(name, f"no loader for model {name!r} in this build", handle)
    production = registry.production(key)
    if production is None:
        return DisabledMember(name, f"no PRODUCTION version of {key} in the registry", handle)
    try:
        model = cls.load(store.open(production.artifact_hash), handle=handle)
    except (ArtifactIntegrityError, DataError, OSError, ValueError) as exc:
        return DisabledMember(
            name, f"artifact of {key} v{production.version} is invalid: {exc}", handle
        )
    return TabularMember(model)


def load_members(
    models: Sequence[str],
    scope: str,
    horizon: int,
    registry: ModelRegistry,
    store: ArtifactSource,
    handles: Mapping[str, ModuleHandle] | None = None,
) -> list[Member]:
    """One member per enabled model, for the model lines ``<model>/<scope>/h<horizon>``."""
    handles = handles or {}
    return [
        load_member(name, ModelKey(name, scope, horizon), registry, store, handles.get(name))
        for name in models
    ]
