"""What a registered version is and how it was made, for any kind of learned artifact.

The registry stores one :class:`Lineage` per version: the fields every kind shares (what it
is, the line it belongs to, the window and data it was fitted on, its parameters and metrics)
and, under ``detail``, what only that kind has. A direction model is one kind (``"model"``:
its :class:`~quantum_trader.models.base.ModelMetadata` rebuilds exactly from the lineage); an
RL policy is another (``"policy"``) with no change to the registry or its tables.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from quantum_trader.models.base import ModelMetadata

MODEL_KIND = "model"
POLICY_KIND = "policy"

#: ModelMetadata fields the generic lineage does not have; they travel in ``detail``
_MODEL_DETAIL = tuple(
    f.name
    for f in fields(ModelMetadata)
    if f.name
    not in {
        "name",
        "scope",
        "horizon",
        "training_window",
        "data_hash",
        "hyperparameters",
        "metrics",
        "trained_at",
    }
)


@dataclass(frozen=True, slots=True)
class Lineage:
    """A registered artifact's identity and provenance.

    >>> meta = ModelMetadata("xgb", "1", "BTCUSDT", 4, ("ret_1",), {"eta": 0.1}, (0, 9), "d")
    >>> Lineage.of_model(meta).model_metadata() == meta
    True
    >>> Lineage.from_json(Lineage.of_model(meta).to_json()) == Lineage.of_model(meta)
    True
    """

    kind: str  # MODEL_KIND, POLICY_KIND, …
    name: str  # "xgb", "ppo-sizer", …
    scope: str  # a symbol, or "global"
    horizon: int
    window: tuple[int, int] | None = None  # epoch ms: first and last open time fitted on
    data_hash: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    trained_at: int | None = None  # epoch ms of the clock that trained it
    detail: dict[str, Any] = field(default_factory=dict)  # what only this kind records

    @classmethod
    def of_model(cls, metadata: ModelMetadata) -> Lineage:
        """A direction model's metadata as lineage; :meth:`model_metadata` gives it back."""
        raw = asdict(metadata)
        return cls(
            MODEL_KIND,
            metadata.name,
            metadata.scope,
            metadata.horizon,
            metadata.training_window,
            metadata.data_hash,
            dict(metadata.hyperparameters),
            dict(metadata.metrics),
            metadata.trained_at,
            json.loads(json.dumps({k: raw[k] for k in _MODEL_DETAIL})),  # as stored: lists
        )

    def model_metadata(self) -> ModelMetadata:
        """The direction model's own record; refuses a lineage of another kind."""
        if self.kind != MODEL_KIND:
            raise TypeError(f"{self.name}/{self.scope}: a {self.kind!r} has no model metadata")
        detail = dict(self.detail)
        detail["features"] = tuple(detail.get("features", ()))
        return ModelMetadata(
            name=self.name,
            scope=self.scope,
            horizon=self.horizon,
            training_window=self.window,
            data_hash=self.data_hash,
            hyperparameters=dict(self.parameters),
            metrics=dict(self.metrics),
            trained_at=self.trained_at,
            **detail,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Lineage:
        """Lineage JSON; rows written before lineage existed hold a ModelMetadata's JSON."""
        raw = json.loads(text)
        if "kind" not in raw:
            return cls.of_model(ModelMetadata.from_json(text))
        window = raw.get("window")
        raw["window"] = None if window is None else (int(window[0]), int(window[1]))
        return cls(**raw)
