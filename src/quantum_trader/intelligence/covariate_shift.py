"""Covariate shift: the live feature distribution against each model's training reference.

Each check scores a live window (rows x features) against the model's :class:`ShiftReference`:
PSI and KS per feature, and one multivariate energy distance (see :mod:`.shift_stats`). One
*severity* combines them: ``max(max_psi / psi_enter, energy / energy_threshold)``. With
hysteresis, a shift starts when severity >= 1 and ends only when it falls below
``exit_ratio`` (0.4, i.e. max PSI below 0.1 with the default 0.25 entry). While a shift lasts the
model's weight is multiplied by ``down_weight`` (0 = abstain) for that symbol, and
``model.covariate_shift`` is published at its start (naming the features most responsible, by
PSI) and at its end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from quantum_trader.bus.port import EventBus
from quantum_trader.bus.topics import MODEL_COVARIATE_SHIFT
from quantum_trader.bus.typed import publish_event
from quantum_trader.domain.events import CovariateShift, ShiftAction, ShiftEvidence, ShiftState
from quantum_trader.domain.signals import WeightChange
from quantum_trader.intelligence.shift_stats import (
    FloatArray,
    bin_shares,
    decile_edges,
    energy_distance,
    ks_columns,
    mean_pairwise_distance,
    psi_columns,
)
from quantum_trader.intelligence.weights import changes_between, normalise
from quantum_trader.status.registry import ModuleHandle

NAME = "covariate_shift"
#: the scope of a reference that serves every symbol (a global model).
ANY_SYMBOL = "*"


@dataclass(frozen=True, slots=True)
class CovariateShiftConfig:
    psi_enter: float = 0.25
    exit_ratio: float = 0.4
    down_weight: float = 0.25  # 0.0 makes a shifted model abstain
    min_rows: int = 50
    reference_rows: int = 512
    energy_window: int = 256
    energy_null_draws: int = 30
    energy_null_sigmas: float = 5.0
    top_features: int = 3
    seed: int = 7

    def __post_init__(self) -> None:
        if self.psi_enter <= 0:
            raise ValueError(f"CovariateShiftConfig.psi_enter={self.psi_enter}: must be > 0")
        if not 0 < self.exit_ratio < 1:
            raise ValueError(f"CovariateShiftConfig.exit_ratio={self.exit_ratio}: within (0, 1)")
        if not 0 <= self.down_weight <= 1:
            raise ValueError(f"CovariateShiftConfig.down_weight={self.down_weight}: in [0, 1]")
        if self.min_rows < 10 or self.energy_window < self.min_rows:
            raise ValueError(
                f"CovariateShiftConfig min_rows={self.min_rows}, energy_window="
                f"{self.energy_window}: need min_rows >= 10 and energy_window >= min_rows"
            )


@dataclass(frozen=True, slots=True)
class ShiftReference:
    """What a model's training features looked like: enough to score a live window."""

    features: tuple[str, ...]
    edges: tuple[tuple[float, ...], ...]
    shares: tuple[tuple[float, ...], ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    sample: tuple[tuple[float, ...], ...]  # raw rows, for KS and the energy distance
    energy_threshold: float
    #: mean pairwise distance of the z-scored sample (the energy distance's fixed self term)
    sample_self_distance: float

    @classmethod
    def fit(
        cls, x: FloatArray, features: Sequence[str], config: CovariateShiftConfig | None = None
    ) -> ShiftReference:
        cfg = config or CovariateShiftConfig()
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(features):
            raise ValueError(
                f"ShiftReference.fit: x has shape {x.shape}, expected (rows, {len(features)})"
            )
        if not np.isfinite(x).all():
            raise ValueError("ShiftReference.fit: training features contain NaN or inf")
        if len(x) < 2 * cfg.energy_window:
            raise ValueError(
                f"ShiftReference.fit: {len(x)} rows; need >= {2 * cfg.energy_window} "
                "(twice the energy window) to calibrate"
            )
        rng = np.random.default_rng(cfg.seed)
        edges = [decile_edges(x[:, j]) for j in range(x.shape[1])]
        shares = [bin_shares(x[:, j], e) for j, e in enumerate(edges)]
        mean = x.mean(axis=0)
        std = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        idx = rng.permutation(len(x))
        n_ref = min(cfg.reference_rows, len(x) - cfg.energy_window)
        sample, rest = x[idx[:n_ref]], x[idx[n_ref:]]
        z_ref = (sample - mean) / std
        z_self = mean_pairwise_distance(z_ref)
        null = [
            energy_distance(
                z_ref,
                (rest[rng.choice(len(rest), cfg.energy_window, replace=False)] - mean) / std,
                z_self,
            )
            for _ in range(cfg.energy_null_draws)
        ]
        threshold = float(np.mean(null) + cfg.energy_null_sigmas * np.std(null))
        return cls(
            features=tuple(features),
            edges=tuple(tuple(map(float, e)) for e in edges),
            shares=tuple(tuple(map(float, s)) for s in shares),
            mean=tuple(map(float, mean)),
            std=tuple(map(float, std)),
            sample=tuple(tuple(map(float, row)) for row in sample),
            energy_threshold=max(threshold, 1e-9),
            sample_self_distance=z_self,
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "edges": [list(e) for e in self.edges],
            "shares": [list(s) for s in self.shares],
            "mean": list(self.mean),
            "std": list(self.std),
            "sample": [list(r) for r in self.sample],
            "energy_threshold": self.energy_threshold,
            "sample_self_distance": self.sample_self_distance,
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> ShiftReference:
        return cls(
            features=tuple(s["features"]),
            edges=tuple(tuple(e) for e in s["edges"]),
            shares=tuple(tuple(v) for v in s["shares"]),
            mean=tuple(s["mean"]),
            std=tuple(s["std"]),
            sample=tuple(tuple(r) for r in s["sample"]),
            energy_threshold=float(s["energy_threshold"]),
            sample_self_distance=float(s["sample_self_distance"])
            if "sample_self_distance" in s  # states saved before the term was kept
            else mean_pairwise_distance(
                (np.asarray(s["sample"]) - np.asarray(s["mean"])) / np.asarray(s["std"])
            ),
        )


@dataclass(frozen=True, slots=True)
class _ReferenceArrays:
    """A reference's tuples as the arrays a check reads: each feature's sorted sample in a row
    for KS, padded bin edges and shares for PSI (see :func:`psi_columns`), the standardised
    sample for the energy distance. Holds the reference, so the id it is cached under cannot
    be reused by another object while the entry lives."""

    reference: ShiftReference
    sorted_rows: FloatArray  # (features, sample rows)
    edges: FloatArray  # (features, most edges), padded with +inf
    shares: FloatArray  # (features, most edges + 1), padded with 0
    bins: npt.NDArray[np.int64]  # each feature's bin count
    mean: FloatArray
    std: FloatArray
    z_sample: FloatArray

    @classmethod
    def of(cls, ref: ShiftReference) -> _ReferenceArrays:
        sample = np.asarray(ref.sample, dtype=np.float64)
        mean, std = np.asarray(ref.mean), np.asarray(ref.std)
        widest = max((len(e) for e in ref.edges), default=0)
        edges = np.full((len(ref.edges), widest), np.inf)
        shares = np.zeros((len(ref.edges), widest + 1))
        for j, (e, v) in enumerate(zip(ref.edges, ref.shares, strict=True)):
            edges[j, : len(e)] = e
            shares[j, : len(v)] = v
        return cls(
            reference=ref,
            sorted_rows=np.sort(sample.T, axis=1),
            edges=edges,
            shares=shares,
            bins=np.array([len(e) + 1 for e in ref.edges], dtype=np.int64),
            mean=mean,
            std=std,
            z_sample=(sample - mean) / std,
        )


@dataclass(frozen=True, slots=True)
class FeatureShift:
    feature: str
    psi: float
    ks_statistic: float
    ks_pvalue: float


@dataclass(frozen=True, slots=True)
class ShiftReport:
    model: str
    symbol: str
    time: int
    rows: int
    features: tuple[FeatureShift, ...]  # most shifted first (by PSI)
    energy: float
    energy_threshold: float
    severity: float
    shifted: bool
    started: bool  # this check started a shift
    ended: bool  # this check ended one

    @property
    def max_psi(self) -> float:
        return max((f.psi for f in self.features), default=0.0)


class CovariateShiftMonitor:
    """Scores live windows per (symbol, model), keeps shift state; a :class:`WeightAdjuster`."""

    name = NAME

    def __init__(
        self,
        bus: EventBus | None,
        config: CovariateShiftConfig | None = None,
        status: ModuleHandle | None = None,
    ) -> None:
        self.config = config or CovariateShiftConfig()
        self._bus = bus
        self._status = status
        # (scope, model) -> reference; scope is a symbol for per-symbol models, ANY_SYMBOL else
        self._references: dict[tuple[str, str], ShiftReference] = {}
        self._active: dict[tuple[str, str], float] = {}  # (symbol, model) -> severity at start
        self._memo: tuple[tuple[int, bytes], tuple[list[FeatureShift], float]] | None = None
        self._reference_arrays: dict[int, _ReferenceArrays] = {}

    def set_reference(
        self, model: str, reference: ShiftReference, symbol: str = ANY_SYMBOL
    ) -> None:
        """The training reference of ``model`` (of its ``symbol`` version if per symbol)."""
        self._references[(symbol, model)] = reference

    def fit_reference(
        self, model: str, x: FloatArray, features: Sequence[str], symbol: str = ANY_SYMBOL
    ) -> ShiftReference:
        ref = ShiftReference.fit(x, features, self.config)
        self.set_reference(model, ref, symbol)
        return ref

    def reference(self, symbol: str, model: str) -> ShiftReference | None:
        found = self._references.get((symbol, model))
        return found if found is not None else self._references.get((ANY_SYMBOL, model))

    def in_shift(self, symbol: str, model: str) -> bool:
        return (symbol, model) in self._active

    def check(
        self, symbol: str, model: str, live: FloatArray, features: Sequence[str], now: int
    ) -> ShiftReport:
        """Score ``model``'s live window for ``symbol`` against its training reference."""
        return self.check_models(symbol, (model,), live, features, now)[0]

    def check_models(
        self,
        symbol: str,
        models: Sequence[str],
        live: FloatArray,
        features: Sequence[str],
        now: int,
    ) -> list[ShiftReport]:
        """:meth:`check` of several models on one live window (a symbol's members): the
        window is validated and fingerprinted once, and models that share a reference share
        its statistics."""
        references = []
        for model in models:
            ref = self.reference(symbol, model)
            if ref is None:
                raise KeyError(f"covariate_shift: no training reference for {model!r} on {symbol}")
            if tuple(features) != ref.features:
                raise ValueError(
                    f"covariate_shift({model}): live features {list(features)} differ from the "
                    f"training reference {list(ref.features)}"
                )
            references.append(ref)
        cfg = self.config
        live = np.asarray(live, dtype=np.float64)
        if live.ndim != 2 or len(live) < cfg.min_rows or not np.isfinite(live).all():
            raise ValueError(
                f"covariate_shift({symbol}, {', '.join(models)}): live window of shape "
                f"{live.shape} must be finite with >= {cfg.min_rows} rows"
            )
        live = live[-cfg.energy_window :]
        fingerprint = hashlib.blake2b(live.tobytes(), digest_size=16).digest()
        return [
            self._assess(symbol, model, ref, live, fingerprint, now)
            for model, ref in zip(models, references, strict=True)
        ]

    def _assess(
        self,
        symbol: str,
        model: str,
        ref: ShiftReference,
        live: FloatArray,
        fingerprint: bytes,
        now: int,
    ) -> ShiftReport:
        cfg = self.config
        per_feature, energy = self._statistics(ref, live, (id(ref), fingerprint))
        severity = max(per_feature[0].psi / cfg.psi_enter, energy / ref.energy_threshold)
        key = (symbol, model)
        was = key in self._active
        # hysteresis: entering needs severity >= 1, leaving needs it below exit_ratio
        shifted = severity >= cfg.exit_ratio if was else severity >= 1.0
        report = ShiftReport(
            model=model,
            symbol=symbol,
            time=now,
            rows=len(live),
            features=tuple(per_feature),
            energy=energy,
            energy_threshold=ref.energy_threshold,
            severity=severity,
            shifted=shifted,
            started=shifted and not was,
            ended=was and not shifted,
        )
        self._count("shift_checks")
        if report.started:
            self._active[key] = severity
            self._count("shifts_detected")
            self._publish(report, ShiftState.STARTED)
        elif report.ended:
            del self._active[key]
            self._count("shifts_ended")
            self._publish(report, ShiftState.ENDED)
        return report

    def _statistics(
        self, ref: ShiftReference, live: FloatArray, key: tuple[int, bytes]
    ) -> tuple[list[FeatureShift], float]:
        """Per-feature PSI/KS and the energy distance of ``live`` against ``ref``.

        Models that share one training reference (the members trained on the same window) are
        checked against the same live window: the statistics are computed once and reused for
        each of them (``key`` = the reference's identity and the window's content hash)."""
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        arrays = self._arrays(ref)
        psis = psi_columns(arrays.shares, arrays.edges, arrays.bins, live).tolist()
        stats, pvalues = ks_columns(arrays.sorted_rows, np.sort(live.T, axis=1))
        per_feature = list(map(FeatureShift, ref.features, psis, stats.tolist(), pvalues.tolist()))
        per_feature.sort(key=lambda f: f.psi, reverse=True)
        energy = energy_distance(
            arrays.z_sample, (live - arrays.mean) / arrays.std, ref.sample_self_distance
        )
        self._memo = (key, (per_feature, energy))
        return per_feature, energy

    def _arrays(self, ref: ShiftReference) -> _ReferenceArrays:
        """The reference as arrays, built once per reference (the checks reuse them)."""
        cached = self._reference_arrays.get(id(ref))
        if cached is None or cached.reference is not ref:
            cached = _ReferenceArrays.of(ref)
            self._reference_arrays[id(ref)] = cached
        return cached

    def _publish(self, report: ShiftReport, state: ShiftState) -> None:
        if self._bus is None:
            return
        top = report.features[: self.config.top_features]
        down_weight = self.config.down_weight
        event = CovariateShift(
            model=report.model,
            symbol=report.symbol,
            state=state,
            features=tuple(f.feature for f in top),
            evidence=tuple(
                ShiftEvidence(f.feature, f.psi, f.ks_statistic, f.ks_pvalue) for f in top
            ),
            energy=report.energy,
            energy_threshold=report.energy_threshold,
            severity=report.severity,
            rows=report.rows,
            action=ShiftAction.ABSTAIN if down_weight == 0 else ShiftAction.DOWN_WEIGHT,
            down_weight=down_weight,
            time=report.time,
        )
        publish_event(self._bus, MODEL_COVARIATE_SHIFT, event, source=NAME)

    def active(self) -> dict[tuple[str, str], float]:
        """(symbol, model) -> severity at the start, for every shift still running."""
        return dict(self._active)

    def adjust(
        self, symbol: str, weights: Mapping[str, float], now: int
    ) -> tuple[dict[str, float], list[WeightChange]]:
        active = self._active
        shifted = [m for m in weights if (symbol, m) in active] if active else []
        if not shifted:
            return dict(weights), []
        factor = self.config.down_weight
        after = normalise(
            {m: w * (factor if m in shifted else 1.0) for m, w in weights.items()}, NAME
        )
        reasons = {
            m: f"covariate shift (severity {self._active[(symbol, m)]:.2f}): x{factor}"
            for m in shifted
        }
        changes = changes_between(NAME, weights, after, reasons)
        if changes:
            self._count("weight_updates")
        return after, changes

    def _count(self, counter: str) -> None:
        if self._status is not None:
            self._status.count(counter)

    # --- persistence ------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """A reference several models share (one training window) is written once."""
        index: dict[ShiftReference, int] = {}
        unique: list[dict[str, Any]] = []
        refs = []
        for (s, m), r in self._references.items():
            if r not in index:
                index[r] = len(unique)
                unique.append(r.to_state())
            refs.append([s, m, index[r]])
        return {
            "reference_data": unique,
            "references": refs,
            "active": [[s, m, sev] for (s, m), sev in self._active.items()],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        if "reference_data" in state:
            unique = [ShiftReference.from_state(r) for r in state["reference_data"]]
            self._references = {(str(s), str(m)): unique[k] for s, m, k in state["references"]}
        else:  # states saved before references were shared: one full copy per model
            shared: dict[ShiftReference, ShiftReference] = {}
            self._references = {}
            for s, m, r in state["references"]:
                ref = ShiftReference.from_state(r)
                self._references[(str(s), str(m))] = shared.setdefault(ref, ref)
        self._active = {(str(s), str(m)): float(v) for s, m, v in state["active"]}
