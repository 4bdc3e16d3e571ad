"""How a saved artifact becomes an ensemble member: the loader type and the tabular loader.

Which version to load, and from where, is serving's business (``learning/serving.py``): this
package knows members, not the registry, so that models never import the learning loop.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from quantum_trader.models.ensemble.member import Member, TabularMember
from quantum_trader.models.tabular.base import TabularModel
from quantum_trader.status.registry import ModuleHandle

#: Opens a verified artifact folder as an ensemble member (its status handle counts evidence).
MemberLoader = Callable[[Path, ModuleHandle | None], Member]


def tabular_loader(cls: type[TabularModel]) -> MemberLoader:
    def load(directory: Path, handle: ModuleHandle | None) -> Member:
        return TabularMember(cls.load(directory, handle=handle))

    return load


class ArtifactSource(Protocol):
    def open(self, digest: str) -> Path:
        """The artifact's folder after its hash check (ArtifactIntegrityError otherwise)."""
        ...
