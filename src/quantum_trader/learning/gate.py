"""The validation gate: may a freshly trained candidate enter the shadow?

Candidate and champion answer the same validation rows, the most recent ones whose labels were
known at the trigger and that the candidate was not fitted on (the daemon holds them out,
purged by the label horizon). Both are scored (log-loss, Brier, ECE, macro-F1); the candidate
passes only if its log-loss is lower by a one-sided paired test at level ``alpha``.

The paired test is Diebold and Mariano's (1995, "Comparing Predictive Accuracy", JBES 13(3)):
with per-row loss differences ``d_t = champion loss - candidate loss`` over ``n`` rows,

    DM = mean(d) / sqrt(S / n),   S = g_0 + 2 * sum_{k=1..L} g_k

where ``g_k`` is the lag-k autocovariance of ``d`` and ``L`` the label horizon: rows fewer than
``horizon + 1`` apart share part of their label window, so their differences are correlated up
to that lag and not beyond. The paper's uniform weights fit that structure; Newey-West's
declining weights (``1 - k / (L + 1)``) keep ``S`` positive but understate it (measured on
MA(4) differences: a one-sided 5 % test passed 9.1 % of 1,000 null series with them, 5.7 %
with uniform weights), so they serve only where the uniform sum is not positive. Under equal
accuracy DM is about standard normal; the gate passes when ``DM > z(1 - alpha)``.

What the gate does not judge yet: the trading metrics of the issue (net Sharpe, profit factor,
drawdown, turnover, fees, funding of a replay with the candidate serving). The shadow and canary
that follow judge the candidate out of sample on matured labels; that its trades are not worse
is not checked before it serves a canary share. Nor are validations rows of the trial ledger yet
(the ledger's trials are trading trials, with a Sharpe ratio); the registry's audit trail keeps
each one's figures in its reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from quantum_trader.domain.signals import ModelVote
from quantum_trader.features.dataset import Dataset
from quantum_trader.learning.registry import ModelKey, ModelRegistry, ModelVersion, Stage
from quantum_trader.models.ensemble.member import Member, VoteContext
from quantum_trader.models.metrics import classification_metrics
from quantum_trader.status.registry import ModuleHandle

GATE_ACTOR = "rule:validation-gate"

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class GateConfig:
    alpha: float = 0.05
    min_rows: int = 200  # validation rows below this: no verdict, the candidate waits

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 0.5:
            raise ValueError(f"GateConfig.alpha={self.alpha}: must be in (0, 0.5)")
        if self.min_rows < 10:
            raise ValueError(f"GateConfig.min_rows={self.min_rows}: must be at least 10")


@dataclass(frozen=True, slots=True)
class GateResult:
    passed: bool
    rows: int
    champion: dict[str, float]
    candidate: dict[str, float]
    mean_difference: float  # champion log-loss - candidate log-loss (positive: candidate better)
    statistic: float  # DM
    p_value: float  # one-sided, against "the candidate is no better"
    reason: str


def per_row_log_loss(y: FloatArray, probs: FloatArray, floor: float = 1e-3) -> FloatArray:
    """Each row's log-loss of its realised class (probabilities floored as the ledger does)."""
    picked = probs[np.arange(len(y)), y.astype(np.int64)]
    return -np.log(np.maximum(picked, floor))


def diebold_mariano(differences: FloatArray, lag: int) -> tuple[float, float]:
    """(DM statistic, one-sided p-value of mean > 0) with the long-run variance to ``lag``
    (uniform weights, Newey-West's where those give no positive variance)."""
    d = np.asarray(differences, dtype=np.float64)
    n = len(d)
    if n < 2:
        raise ValueError(f"Diebold-Mariano test of {n} differences: needs at least 2")
    centred = d - d.mean()
    gammas = [float(centred @ centred) / n] + [
        float(centred[k:] @ centred[:-k]) / n for k in range(1, min(lag, n - 1) + 1)
    ]
    long_run = gammas[0] + 2.0 * sum(gammas[1:])
    if long_run <= 0.0:
        long_run = gammas[0] + 2.0 * sum(
            (1.0 - k / (lag + 1)) * g for k, g in enumerate(gammas[1:], start=1)
        )
    if long_run <= 0.0:  # identical losses: no evidence either way
        return 0.0, 0.5
    statistic = float(d.mean()) / math.sqrt(long_run / n)
    return statistic, 1.0 - NormalDist().cdf(statistic)


def validate(
    y: FloatArray,
    champion: FloatArray,
    candidate: FloatArray,
    horizon: int,
    config: GateConfig | None = None,
) -> GateResult:
    """Judge ``candidate`` against ``champion`` on labels ``y`` (class probabilities per row,
    the same rows for both)."""
    config = config or GateConfig()
    if not (len(y) == len(champion) == len(candidate)):
        raise ValueError(
            f"validation rows differ: {len(y)} labels, {len(champion)} champion and "
            f"{len(candidate)} candidate predictions"
        )
    rows = len(y)
    if rows < config.min_rows:
        nan = math.nan
        return GateResult(
            False, rows, {}, {}, nan, nan, nan,
            f"{rows} validation rows < {config.min_rows}: not judged",
        )  # fmt: skip
    d = per_row_log_loss(y, champion) - per_row_log_loss(y, candidate)
    statistic, p_value = diebold_mariano(d, horizon)
    passed = p_value < config.alpha
    ours, theirs = classification_metrics(y, candidate), classification_metrics(y, champion)
    reason = (
        f"validation on {rows} rows: log-loss {ours['log_loss']:.4f} vs champion "
        f"{theirs['log_loss']:.4f}, DM {statistic:+.2f} (p {p_value:.3f}, alpha "
        f"{config.alpha}): {'passed' if passed else 'not better'}"
    )
    return GateResult(passed, rows, theirs, ours, float(d.mean()), statistic, p_value, reason)


#: a line's member: (key, version) → member; version None: the PRODUCTION version
LoadMember = Callable[[ModelKey, int | None], Member]


def probabilities(member: Member, symbol: str, data: Dataset) -> FloatArray:
    """The member's class probabilities on each row (NaN where it abstains)."""
    out = np.full((len(data), 3), np.nan)
    for i, row in enumerate(data.x):
        vote = member.vote(symbol, VoteContext(int(data.open_time[i]), features=row))
        if isinstance(vote, ModelVote):
            out[i] = (vote.p_down, vote.p_flat, vote.p_up)
    return out


class ValidationGate:
    """Judges each new candidate against its line's champion on the rows held out for it,
    and moves it: SHADOW when it passes, RETIRED otherwise, the gate's figures as reason."""

    def __init__(
        self,
        registry: ModelRegistry,
        load: LoadMember,
        horizon: int,
        config: GateConfig | None = None,
        handle: ModuleHandle | None = None,
    ) -> None:
        self._registry = registry
        self._load = load
        self._horizon = horizon
        self.config = config or GateConfig()
        self._handle = handle

    def __call__(self, version: ModelVersion, validation: Dataset) -> GateResult:
        key = version.key
        ours = probabilities(self._load(key, version.version), key.scope, validation)
        theirs = probabilities(self._load(key, None), key.scope, validation)
        usable = (
            ~np.isnan(validation.y) & ~np.isnan(ours).any(axis=1) & ~np.isnan(theirs).any(axis=1)
        )
        result = validate(
            validation.y[usable], theirs[usable], ours[usable], self._horizon, self.config
        )
        if result.passed:
            self._registry.promote(
                key, version.version, actor=GATE_ACTOR, reason=result.reason, to=Stage.SHADOW
            )
        else:
            self._registry.retire(key, version.version, actor=GATE_ACTOR, reason=result.reason)
        if self._handle is not None:
            self._handle.count("validations_passed" if result.passed else "validations_failed")
        return result
