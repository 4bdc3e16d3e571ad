"""The validation gate: may a freshly trained candidate enter the shadow?

Candidate and champion answer the same validation rows, the most recent ones whose labels were
known at the trigger and that the candidate was not fitted on (the daemon holds them out,
purged by the label horizon). Both are scored (log-loss, AUC, Brier, ECE, accuracy, macro-F1);
the candidate passes only if its log-loss is lower by a one-sided paired test at level
``alpha``, and (with a trading scorer) its trading is not significantly worse.

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

A candidate that passed that test is then replayed with its champion through the whole
decision path on the same window (``trading``, a
:class:`~quantum_trader.learning.trading_check.TradingScorer`), and refused if its trading is
significantly worse (``learning/trading_check.py``: a paired block bootstrap of the Sharpe
difference, one-sided at ``trading_alpha``). The replays cost far more than the log-loss test
(two replays of the window through the engine), so only candidates that passed it are
replayed: a candidate the log-loss test refuses costs nothing more. Without a scorer (tests,
tools) the gate judges the log-loss alone.

Every validation, passed or not, is handed to ``record`` (the app writes it to the trial ledger
as a ``validation`` row) with its figures: both arms' classification metrics, the DM statistic
and p-value, and the trading figures where the replays were made.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from quantum_trader.domain.signals import ModelVote
from quantum_trader.domain.time import timeframe_ms
from quantum_trader.features.dataset import Dataset
from quantum_trader.learning.registry import ModelKey, ModelRegistry, ModelVersion, Stage
from quantum_trader.learning.trading_check import (
    REPORTED,
    TradingReplayError,
    TradingScorer,
    TradingVerdict,
    check_trading,
    check_unseen,
    not_judged,
    validation_window,
)
from quantum_trader.models.ensemble.member import Member, VoteContext
from quantum_trader.models.metrics import classification_metrics, macro_auc
from quantum_trader.status.registry import ModuleHandle

GATE_ACTOR = "rule:validation-gate"

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class GateConfig:
    alpha: float = 0.05
    min_rows: int = 200  # validation rows below this: no verdict, the candidate waits
    #: one-sided level of the trading check: the candidate fails when its Sharpe ratio minus
    #: the champion's is below 0 at this level (``learning/trading_check.py``)
    trading_alpha: float = 0.05
    bootstrap_samples: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("alpha", "trading_alpha"):
            if not 0.0 < getattr(self, name) < 0.5:
                raise ValueError(f"GateConfig.{name}={getattr(self, name)}: must be in (0, 0.5)")
        if self.min_rows < 10:
            raise ValueError(f"GateConfig.min_rows={self.min_rows}: must be at least 10")
        if self.bootstrap_samples < 100:
            raise ValueError(f"GateConfig.bootstrap_samples={self.bootstrap_samples}: >= 100")


@dataclass(frozen=True, slots=True)
class GateResult:
    passed: bool  # the verdict: the log-loss test, and the trading check where it was made
    rows: int
    champion: dict[str, float]
    candidate: dict[str, float]
    mean_difference: float  # champion log-loss - candidate log-loss (positive: candidate better)
    statistic: float  # DM
    p_value: float  # one-sided, against "the candidate is no better"
    reason: str
    trading: TradingVerdict | None = None  # None: not made (log-loss refused it, or no scorer)

    def figures(self) -> dict[str, float | None]:
        """The validation's figures by name, flat (a ledger row's metrics): each arm's
        classification metrics, the DM test, and each arm's trading figures with the Sharpe
        difference's interval (None where the trading check was not made)."""
        out: dict[str, float | None] = {"passed": float(self.passed), "rows": float(self.rows)}
        for arm, metrics in (("champion", self.champion), ("candidate", self.candidate)):
            out |= {f"{arm}_{name}": _finite(value) for name, value in metrics.items()}
        out |= {"dm_statistic": _finite(self.statistic), "dm_p_value": _finite(self.p_value)}
        check = self.trading
        for arm in ("champion", "candidate"):
            perf = None if check is None else getattr(check, arm)
            for name in REPORTED:
                out[f"{arm}_{name}"] = None if perf is None else _finite(getattr(perf, name))
        interval = None if check is None else check.difference
        out["trading_passed"] = None if check is None else float(check.passed)
        out["sharpe_difference"] = None if interval is None else interval.point
        out["sharpe_difference_low"] = None if interval is None else interval.low
        out["sharpe_difference_high"] = None if interval is None else interval.high
        out["replay_seconds"] = None if check is None else check.seconds
        return out


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


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
    ours = classification_metrics(y, candidate) | {"auc": macro_auc(y, candidate)}
    theirs = classification_metrics(y, champion) | {"auc": macro_auc(y, champion)}
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


@dataclass(frozen=True, slots=True)
class Validation:
    """One validation, as the gate hands it to ``record``: which version, on which rows (the
    window [first open, last close) of the held-out rows), the verdict and its figures."""

    version: ModelVersion
    symbol: str
    timeframe: str
    window: tuple[int, int]
    result: GateResult


class ValidationGate:
    """Judges each new candidate against its line's champion on the rows held out for it,
    and moves it: SHADOW when it passes, RETIRED otherwise, the gate's figures as reason.
    With ``trading``, a candidate that passed the log-loss test must also not trade
    significantly worse (the module docstring); ``record`` receives every validation."""

    def __init__(
        self,
        registry: ModelRegistry,
        load: LoadMember,
        horizon: int,
        config: GateConfig | None = None,
        handle: ModuleHandle | None = None,
        *,
        trading: TradingScorer | None = None,
        record: Callable[[Validation], object] | None = None,
    ) -> None:
        self._registry = registry
        self._load = load
        self._horizon = horizon
        self.config = config or GateConfig()
        self._handle = handle
        self._trading = trading
        self._record = record

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
        window = validation_window(validation)
        if result.passed and self._trading is not None:
            result = self._judge_trading(version, window, validation.timeframe, result)
        if result.passed:
            self._registry.promote(
                key, version.version, actor=GATE_ACTOR, reason=result.reason, to=Stage.SHADOW
            )
        else:
            self._registry.retire(key, version.version, actor=GATE_ACTOR, reason=result.reason)
        self._count("validations_passed" if result.passed else "validations_failed")
        if self._record is not None:
            self._record(
                Validation(version, validation.symbol, validation.timeframe, window, result)
            )
        return result

    def _judge_trading(
        self, version: ModelVersion, window: tuple[int, int], timeframe: str, result: GateResult
    ) -> GateResult:
        """The trading check of a candidate that passed the log-loss test (costly: replays)."""
        assert self._trading is not None
        check_unseen(version, window, self._horizon, timeframe_ms(timeframe))
        try:
            replays = self._trading(version, window)
        except TradingReplayError as exc:
            self._count("trading_checks_not_made")
            check = not_judged(str(exc))
        else:
            cfg = self.config
            check = check_trading(
                replays, alpha=cfg.trading_alpha, samples=cfg.bootstrap_samples, seed=cfg.seed
            )
            self._count("trading_checks_passed" if check.passed else "trading_checks_failed")
        reason = f"{result.reason}; {check.reason}"
        return replace(result, passed=check.passed, reason=reason, trading=check)

    def _count(self, what: str) -> None:
        if self._handle is not None:
            self._handle.count(what)
