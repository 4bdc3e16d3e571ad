"""Walk-forward evaluation of the direction members (tabular and forecasting) next to baselines.

Rolling windows over one symbol's labelled rows: train on ``train_rows``, skip ``horizon`` rows
(their labels look into the test window: purging them prevents leakage), test on the next
``test_rows``; the last ``max_folds`` windows are used, each ``step_rows`` apart. Predictions of
all folds are pooled per model. Baselines: the training majority class, persistence (the last
label already known at t, i.e. the label of t - horizon) and a random draw from the training
class prior (its log-loss uses the prior as probabilities).

Every member kind is trained and scored on a fold by its family's ``fold`` in the trainer port
(:data:`~quantum_trader.learning.trainers.FAMILIES`); the loop checks that each one scored
exactly the fold's test rows and that the candles it was fitted on all precede the first test
row, and refuses to report otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from quantum_trader.domain.errors import LookAheadError
from quantum_trader.features.dataset import Dataset
from quantum_trader.features.series import CandleSeries
from quantum_trader.learning.fold_models import FoldData, FoldPrediction
from quantum_trader.learning.trainers import FAMILIES
from quantum_trader.models.metrics import classification_metrics, macro_f1, trading_metrics


@dataclass(frozen=True, slots=True)
class WalkForwardConfig:
    train_rows: int = 365 * 24
    test_rows: int = 60 * 24
    step_rows: int = 60 * 24
    max_folds: int = 4
    models: tuple[str, ...] = tuple(FAMILIES)
    seed: int = 7
    params: tuple[tuple[str, object], ...] = ()  # hyperparameter overrides for the tabular models
    forecast_epochs: int | None = None  # max epochs of the forecasters (None: their defaults)

    def __post_init__(self) -> None:
        for name in ("train_rows", "test_rows", "step_rows", "max_folds"):
            if getattr(self, name) < 1:
                raise ValueError(f"WalkForwardConfig.{name}={getattr(self, name)}: must be >= 1")
        unknown = [m for m in self.models if m not in FAMILIES]
        if unknown:
            raise ValueError(f"WalkForwardConfig.models: unknown {unknown}; known {list(FAMILIES)}")


@dataclass(frozen=True, slots=True)
class Fold:
    train: tuple[int, int]  # row range [start, stop)
    test: tuple[int, int]


@dataclass(frozen=True, slots=True)
class FoldRecord:
    """What one model did on one fold: the rows it scored and the candles it was fitted on."""

    symbol: str
    model: str
    fold: int
    prediction: FoldPrediction


@dataclass(frozen=True, slots=True)
class ScoreRow:
    symbol: str
    model: str
    kind: str  # "model" | "baseline"
    rows: int
    accuracy: float
    log_loss: float  # NaN for hard baselines with no probabilities
    macro_f1: float
    brier: float  # NaN … (as log_loss)
    ece: float  # top-label expected calibration error, NaN … (as log_loss)
    trades: int
    mean_net_bps: float
    hit_rate: float


def make_folds(n_labelled: int, horizon: int, config: WalkForwardConfig) -> list[Fold]:
    """The last ``max_folds`` windows, oldest first.

    >>> make_folds(100, 2, WalkForwardConfig(train_rows=50, test_rows=10, step_rows=10, max_folds=2))
    [Fold(train=(28, 78), test=(80, 90)), Fold(train=(38, 88), test=(90, 100))]
    """
    folds: list[Fold] = []
    test_end = n_labelled
    while len(folds) < config.max_folds:
        test_start = test_end - config.test_rows
        train_end = test_start - horizon
        train_start = train_end - config.train_rows
        if train_start < 0:
            break
        folds.append(Fold((train_start, train_end), (test_start, test_end)))
        test_end -= config.step_rows
    return folds[::-1]


def evaluate_symbol(
    data: Dataset,
    config: WalkForwardConfig,
    progress: Callable[[str], None] | None = None,
    *,
    candles: CandleSeries | None = None,
    on_fold: Callable[[FoldRecord], None] | None = None,
) -> list[ScoreRow]:
    """Scores of every model and baseline on ``data``'s walk-forward folds.

    ``candles`` is the series ``data`` was made from (the forecasters read its closes);
    ``on_fold`` receives each model's :class:`FoldRecord`.
    """
    labelled = data.rows(0, int((~np.isnan(data.y)).sum()))
    if np.isnan(labelled.y).any():
        raise ValueError(f"{data.symbol}: labelled rows are not a prefix of the dataset")
    horizon = data.label_spec.horizon
    folds = make_folds(len(labelled), horizon, config)
    if not folds:
        raise ValueError(
            f"{data.symbol}: {len(labelled)} labelled rows are too few for one fold "
            f"(train {config.train_rows} + purge {horizon} + test {config.test_rows})"
        )
    rng = np.random.default_rng(config.seed)
    preds: dict[str, list[np.ndarray]] = {}
    probs: dict[str, list[np.ndarray]] = {}
    truth: list[np.ndarray] = []
    fwd: list[np.ndarray] = []
    for i, fold in enumerate(folds):
        train, test = labelled.rows(*fold.train), labelled.rows(*fold.test)
        y_test = test.y
        truth.append(y_test)
        fwd.append(test.forward_return)
        inputs = FoldData(
            train, test, candles, dict(config.params), config.forecast_epochs, config.seed
        )
        for name in config.models:
            if progress is not None:
                progress(f"{data.symbol} fold {i + 1}/{len(folds)} {name}")
            result = FAMILIES[name].fold(inputs)
            check_fold(data.symbol, name, test, result)
            if on_fold is not None:
                on_fold(FoldRecord(data.symbol, name, i, result))
            probs.setdefault(name, []).append(result.proba)
            preds.setdefault(name, []).append(result.proba.argmax(axis=1))
            if result.uncalibrated is not None:  # the same member before calibration, beside
                probs.setdefault(f"{name} uncalibrated", []).append(result.uncalibrated)
                preds.setdefault(f"{name} uncalibrated", []).append(
                    result.uncalibrated.argmax(axis=1)
                )
        prior = np.bincount(train.y.astype(np.int64), minlength=3) / len(train.y)
        majority = int(prior.argmax())
        previous = labelled.y[fold.test[0] - horizon : fold.test[1] - horizon].astype(np.int64)
        for name, pred, prob in (
            ("majority", np.full(len(y_test), majority), None),
            ("persistence", previous, None),
            ("prior", rng.choice(3, size=len(y_test), p=prior), np.tile(prior, (len(y_test), 1))),
        ):
            preds.setdefault(name, []).append(pred)
            if prob is not None:
                probs.setdefault(name, []).append(prob)
    y_all, fwd_all = np.concatenate(truth), np.concatenate(fwd)
    fee = data.label_spec.dead_zone
    rows = []
    for name, parts in preds.items():
        pred = np.concatenate(parts)
        if name in probs:
            scores = classification_metrics(y_all, np.concatenate(probs[name]))
        else:
            scores = {
                "accuracy": float((pred == y_all.astype(np.int64)).mean()),
                "log_loss": float("nan"),
                "macro_f1": macro_f1(y_all, pred),
                "brier": float("nan"),
                "ece": float("nan"),
            }
        trade = trading_metrics(pred, fwd_all, fee)
        rows.append(
            ScoreRow(
                symbol=data.symbol,
                model=name,
                kind="model" if name.split(" ")[0] in config.models else "baseline",
                rows=len(y_all),
                accuracy=scores["accuracy"],
                log_loss=scores["log_loss"],
                macro_f1=scores["macro_f1"],
                brier=scores["brier"],
                ece=scores["ece"],
                trades=int(trade["trades"]),
                mean_net_bps=trade["mean_net_bps"],
                hit_rate=trade["hit_rate"],
            )
        )
    return rows


def check_fold(symbol: str, model: str, test: Dataset, result: FoldPrediction) -> None:
    """Refuse a fold result that scored other rows than the test rows, or saw a test candle."""
    where = f"{symbol} {model}"
    if result.proba.shape != (len(test), 3):
        raise ValueError(f"{where}: {result.proba.shape} probabilities for {len(test)} test rows")
    if not np.array_equal(result.scored_open_time, test.open_time):
        raise ValueError(f"{where}: scored open times differ from the fold's test rows")
    if result.trained_on[1] >= test.open_time[0]:
        raise LookAheadError(
            f"{where}: fitted on candles up to {result.trained_on[1]}, but the test starts at "
            f"{test.open_time[0]}"
        )


def summarise(rows: Sequence[ScoreRow]) -> list[ScoreRow]:
    """Mean of each model's scores over symbols (symbol "ALL")."""
    out = []
    for name in dict.fromkeys(r.model for r in rows):
        mine = [r for r in rows if r.model == name]
        out.append(
            ScoreRow(
                symbol="ALL",
                model=name,
                kind=mine[0].kind,
                rows=sum(r.rows for r in mine),
                accuracy=float(np.mean([r.accuracy for r in mine])),
                log_loss=float(np.mean([r.log_loss for r in mine])),
                macro_f1=float(np.mean([r.macro_f1 for r in mine])),
                brier=float(np.mean([r.brier for r in mine])),
                ece=float(np.mean([r.ece for r in mine])),
                trades=sum(r.trades for r in mine),
                mean_net_bps=float(np.mean([r.mean_net_bps for r in mine])),
                hit_rate=float(np.mean([r.hit_rate for r in mine])),
            )
        )
    return out
