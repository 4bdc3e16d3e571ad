"""Train a tabular member on a dataset and record its lineage."""

from __future__ import annotations

from typing import Any

import numpy as np

from quantum_trader.clock.clock import Clock
from quantum_trader.features.dataset import Dataset
from quantum_trader.models.base import label_name
from quantum_trader.models.calibration import fit_vector_scaling
from quantum_trader.models.metrics import classification_metrics
from quantum_trader.models.tabular.base import TabularModel
from quantum_trader.status.registry import ModuleHandle

#: the newest share of a training window held out to calibrate the member on
CALIBRATION_SHARE = 0.2
#: fewer held-out rows than this: no calibration (six parameters need a few hundred rows)
MIN_CALIBRATION_ROWS = 200


def train_tabular(
    cls: type[TabularModel],
    data: Dataset,
    *,
    scope: str | None = None,
    clock: Clock | None = None,
    params: dict[str, Any] | None = None,
    handle: ModuleHandle | None = None,
    calibration_share: float = CALIBRATION_SHARE,
) -> TabularModel:
    """Fit a ``cls`` member on the labelled rows of ``data`` and calibrate it; lineage goes to
    metadata.

    The newest ``calibration_share`` of the labelled rows is held out: the member is fitted on
    the rows before it, less the last ``horizon`` rows (their labels read candles of the held-out
    rows: purged), and a vector scaling (``models/calibration.py``) is fitted on the held-out
    rows' predictions. Their log-loss, Brier score and ECE before and after calibration are
    recorded as ``holdout_*_raw`` and ``holdout_*``. With too few rows for that the member is
    fitted on every labelled row and stays uncalibrated (no ``calibration`` in its metadata).

    The class is the model family's (``learning/trainers.py`` holds the one table of names).
    ``train_*`` metrics are in-sample figures; out-of-sample ones come from walk-forward
    evaluation (``quantum-trader evaluate``).
    """
    if not 0.0 <= calibration_share < 1.0:
        raise ValueError(f"calibration_share={calibration_share}: must be in [0, 1)")
    model = cls(
        scope=scope or data.symbol,
        horizon=data.label_spec.horizon,
        features=data.names,
        params=params,
        timeframe=data.timeframe,
        dead_zone=data.label_spec.dead_zone,
        handle=handle,
    )
    rows = np.flatnonzero(~np.isnan(data.y))
    held = int(len(rows) * calibration_share)
    fit_end = len(rows) - held - data.label_spec.horizon
    metrics: dict[str, float] = {}
    if held >= MIN_CALIBRATION_ROWS and fit_end >= held:
        fit, holdout = rows[:fit_end], rows[len(rows) - held :]
        model.fit(data.x[fit], data.y[fit])
        raw = model.predict_proba(data.x[holdout])
        scaling = fit_vector_scaling(raw, data.y[holdout])
        truth = data.y[holdout]
        before = classification_metrics(truth, raw)
        after = classification_metrics(truth, scaling.apply(raw))
        for key in ("log_loss", "brier", "ece"):
            metrics[f"holdout_{key}_raw"], metrics[f"holdout_{key}"] = before[key], after[key]
        model.annotate(calibration=scaling.to_dict())
    else:
        model.fit(data.x, data.y)
    labelled = ~np.isnan(data.y)
    spec = data.label_spec
    probs = model.predict_proba(data.x[labelled])
    fitted = data.open_time[labelled]
    metrics.update(
        {f"train_{k}": v for k, v in classification_metrics(data.y[labelled], probs).items()}
    )
    model.annotate(
        # the rows fitted on, the held-out ones included (a row's label is known h + 1 candles
        # after it opens): what the walk-forward's look-ahead check reads (evaluation/folds.py)
        training_window=(int(fitted[0]), int(fitted[-1])),
        data_hash=data.content_hash(),
        label=label_name(spec.kind, spec.upper, spec.lower, spec.vol_span),
        metrics=metrics,
        trained_at=None if clock is None else clock.now(),
    )
    return model
