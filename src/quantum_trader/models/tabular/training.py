"""Train a tabular member on a dataset and record its lineage."""

from __future__ import annotations

from typing import Any

import numpy as np

from quantum_trader.clock.clock import Clock
from quantum_trader.features.dataset import Dataset
from quantum_trader.models.metrics import classification_metrics
from quantum_trader.models.tabular.base import TabularModel
from quantum_trader.status.registry import ModuleHandle


def train_tabular(
    cls: type[TabularModel],
    data: Dataset,
    *,
    scope: str | None = None,
    clock: Clock | None = None,
    params: dict[str, Any] | None = None,
    handle: ModuleHandle | None = None,
) -> TabularModel:
    """Fit a ``cls`` member on every labelled row of ``data``; lineage goes to metadata.

    The class is the model family's (``learning/trainers.py`` holds the one table of names).
    ``metrics`` are in-sample (training) figures; out-of-sample ones come from walk-forward
    evaluation (``quantum-trader evaluate``).
    """
    model = cls(
        scope=scope or data.symbol,
        horizon=data.label_spec.horizon,
        features=data.names,
        params=params,
        timeframe=data.timeframe,
        dead_zone=data.label_spec.dead_zone,
        handle=handle,
    )
    model.fit(data.x, data.y)
    labelled = ~np.isnan(data.y)
    probs = model.predict_proba(data.x[labelled])
    fitted = data.open_time[labelled]
    model.annotate(
        # the rows fitted on (a row's label is known h + 1 candles after it opens): what the
        # walk-forward's look-ahead check reads (evaluation/folds.py)
        training_window=(int(fitted[0]), int(fitted[-1])),
        data_hash=data.content_hash(),
        metrics={
            f"train_{k}": v for k, v in classification_metrics(data.y[labelled], probs).items()
        },
        trained_at=None if clock is None else clock.now(),
    )
    return model
