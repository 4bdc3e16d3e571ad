"""What a trained forecaster is, in terms both the trainer and the torch-free server read.

The spec is written to ``config.json`` beside the weights; architecture hyperparameters travel
as a plain mapping so that the server needs no torch module to read them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

Architecture = Literal["nhits", "patchtst"]
ARCHITECTURES: tuple[Architecture, ...] = get_args(Architecture)


@dataclass(frozen=True, slots=True)
class ForecastSpec:
    """Shapes and output definition of a forecaster.

    ``quantiles`` are the levels the network predicts (pinball loss); ``(0.5,)`` gives a point
    forecast trained on absolute error. ``subtract_last`` picks the RevIN centre: the window
    mean (RevIN paper) or the last value (an option of PatchTST's reference code).

    >>> ForecastSpec("nhits", input_size=24, horizon=4).n_outputs
    1
    """

    architecture: Architecture
    input_size: int
    horizon: int
    n_channels: int = 1
    quantiles: tuple[float, ...] = (0.5,)
    subtract_last: bool = False
    network: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"ForecastSpec.architecture={self.architecture!r}: must be one of {ARCHITECTURES}"
            )
        for name in ("input_size", "horizon", "n_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"ForecastSpec.{name}={getattr(self, name)}: must be >= 1")
        if not self.quantiles:
            raise ValueError("ForecastSpec.quantiles=(): at least one level is needed")
        if any(not 0.0 < q < 1.0 for q in self.quantiles):
            raise ValueError(f"ForecastSpec.quantiles={self.quantiles}: each must be in (0, 1)")
        if list(self.quantiles) != sorted(set(self.quantiles)):
            raise ValueError(
                f"ForecastSpec.quantiles={self.quantiles}: must be strictly increasing"
            )

    @property
    def n_outputs(self) -> int:
        return len(self.quantiles)

    @property
    def median_index(self) -> int:
        """Index of the level closest to 0.5: the point forecast."""
        return min(range(len(self.quantiles)), key=lambda i: abs(self.quantiles[i] - 0.5))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=2)

    @classmethod
    def from_json(cls, text: str) -> ForecastSpec:
        raw = json.loads(text)
        raw["quantiles"] = tuple(raw["quantiles"])
        return cls(**raw)
