"""The trial ledger: every evaluation, backtest and candidate validation, recorded for good.

A Sharpe ratio found after trying many configurations is inflated by the trying: the best of N
noisy estimates is high even when every configuration is worthless. The deflated Sharpe ratio
(Bailey & López de Prado, 2014) corrects for that, but only when it knows how many trials were
made and how far their Sharpe ratios spread. So every run that produces performance figures
records a :class:`Trial` (what was tried: a configuration hash and the code version; on what:
symbols, timeframe, data window, seed; with what result) in an append-only ledger, and
:func:`dsr_inputs` reads the count and the spread from it. A ledger one can delete from would
let the count shrink after the fact; the SQL adapter refuses deletes and updates.

Sharpe ratios here are per candle (mean over standard deviation of the equity curve's returns
from one candle to the next), not annualised: that is the unit the deflated Sharpe ratio works
in. :func:`annualised` converts for display.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean, variance
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from quantum_trader.domain.checks import non_empty
from quantum_trader.domain.digests import sha256_bytes
from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.time import MS_PER_DAY, TIMEFRAMES, timeframe_ms
from quantum_trader.performance.metrics import sharpe_ratio

#: what a trial can be: a walk-forward evaluation, a backtest (``backtest``, the main job's
#: replay), the validation of a candidate before promotion
KINDS = ("evaluate", "backtest", "validation")
#: the kind of a candidate's validation by the gate (left out of the DSR: ``dsr_inputs``)
VALIDATION = "validation"
#: names starting with this are references a candidate is compared to, not candidates
BASELINE_PREFIX = "baseline:"
_HASH = re.compile(r"[0-9a-f]{64}")
_MAX_SEED = 2**63  # the database column is a signed 64-bit integer
_TYPE = "Trial"


def _fail(field: str, value: object, rule: str) -> DomainValidationError:
    return DomainValidationError(_TYPE, field, value, rule)


@dataclass(frozen=True, slots=True)
class Trial:
    """One recorded trial. Times are epoch milliseconds, UTC; ``[data_start, data_end)`` is the
    data window the figures come from. ``sharpe`` is per candle (None where the equity curve
    gives none: fewer than two returns, or no variation); ``periods`` is the number of per-candle
    returns it was computed from. ``metrics`` holds the run's figures (an undefined figure is
    None, as in ``Metrics.to_dict``; a bool is stored as 0 or 1). ``parent``: what the trial
    belongs to (a run id, an evaluation's folder), when anything."""

    kind: str
    name: str
    config_hash: str
    code_version: str
    symbols: tuple[str, ...]
    timeframe: str
    data_start: int
    data_end: int
    seed: int
    metrics: Mapping[str, float | int | None]
    sharpe: float | None
    periods: int
    recorded_at: int
    parent: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise _fail("kind", self.kind, f"must be one of {', '.join(KINDS)}")
        for field in ("name", "code_version"):
            value = getattr(self, field)
            if not isinstance(value, str):
                raise _fail(field, value, "must be a string")
            non_empty(_TYPE, field, value)
        if not isinstance(self.config_hash, str) or not _HASH.fullmatch(self.config_hash):
            raise _fail("config_hash", self.config_hash, "must be 64 lowercase hex digits")
        object.__setattr__(self, "symbols", _symbols(self.symbols))
        if self.timeframe not in TIMEFRAMES:
            raise _fail("timeframe", self.timeframe, f"must be one of {', '.join(TIMEFRAMES)}")
        for field in ("data_start", "data_end", "recorded_at", "periods"):
            _integer(field, getattr(self, field), low=0)
        if self.data_start >= self.data_end:
            raise _fail("data_end", self.data_end, f"must be after data_start={self.data_start}")
        _integer("seed", self.seed, low=0, high=_MAX_SEED)
        object.__setattr__(self, "metrics", _metrics(self.metrics))
        if self.sharpe is not None:
            object.__setattr__(self, "sharpe", _number("sharpe", self.sharpe))
            if self.periods < 2:
                raise _fail("periods", self.periods, "a Sharpe ratio needs at least 2 returns")
        if self.parent is not None:
            if not isinstance(self.parent, str):
                raise _fail("parent", self.parent, "must be a string or None")
            non_empty(_TYPE, "parent", self.parent)

    @property
    def is_baseline(self) -> bool:
        """A reference the candidates are compared to (buy and hold, random …), not one of
        the configurations tried."""
        return self.name.startswith(BASELINE_PREFIX)


def _integer(field: str, value: object, *, low: int, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(field, value, "must be an integer")
    if value < low or (high is not None and value >= high):
        rule = f"must be >= {low}" if high is None else f"must be within [{low}, {high})"
        raise _fail(field, value, rule)


def _number(field: str, value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _fail(field, value, "must be a number")
    if not math.isfinite(value):
        raise _fail(field, value, "must be finite (record an undefined figure as None)")
    return float(value)


def _symbols(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise _fail("symbols", value, "must be a tuple of symbols")
    if not value or not all(isinstance(s, str) and s for s in value):
        raise _fail("symbols", value, "must name at least one symbol, none empty")
    return tuple(value)


def _metrics(value: object) -> Mapping[str, float | int | None]:
    if not isinstance(value, Mapping):
        raise _fail("metrics", value, "must be a mapping of name to number or None")
    out: dict[str, float | int | None] = {}
    for key, figure in value.items():
        if not isinstance(key, str) or not key:
            raise _fail("metrics", key, "every metric needs a non-empty name")
        if figure is None or (isinstance(figure, int) and not isinstance(figure, bool)):
            out[key] = figure
        elif isinstance(figure, bool):
            out[key] = int(figure)
        elif isinstance(figure, float):
            out[key] = _number(f"metrics[{key!r}]", figure)
        else:
            raise _fail(f"metrics[{key!r}]", figure, "must be a number or None")
    return MappingProxyType(out)


class TrialLedger(Protocol):
    """Where trials are kept: append-only, newest first when read."""

    def record(self, trial: Trial) -> int:
        """Append ``trial``; returns its id."""
        ...

    def trials(self, kind: str | None = None, *, limit: int | None = None) -> list[Trial]:
        """The recorded trials, newest first; only those of ``kind`` when given."""
        ...


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 (hex) of ``config`` as canonical JSON: keys sorted at every level, no spaces,
    UTF-8. Two configurations hash alike exactly when their JSON values are equal, whatever
    the order their keys were written in.

    JSON rather than ``domain/canonical.py``'s bytes: those keep a dict's insertion order and
    are Python's marshal format, while a stored hash must outlive both. Values may be str,
    int, float (finite), bool, None, lists or tuples (equal to lists), and mappings with string
    keys; anything else (a path, an enum) is refused, naming where it is: pass its text. ``1``
    and ``1.0`` are different values.

    >>> config_hash({"fast": 10, "slow": 30}) == config_hash({"slow": 30, "fast": 10})
    True
    >>> config_hash({"fast": 10}) == config_hash({"fast": 10.0})
    False
    """
    canonical = _canonical(config, "config")
    text = json.dumps(
        canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return sha256_bytes(text.encode("utf-8"))


def _canonical(value: object, where: str) -> object:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}={value!r}: a configuration value must be finite")
        return value
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: key {key!r} is not a string")
            out[key] = _canonical(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, list | tuple):
        return [_canonical(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise ValueError(
        f"{where}={value!r}: {type(value).__name__} has no canonical JSON form; pass its text"
    )


def dsr_inputs(trials: Sequence[Trial]) -> tuple[int, float]:
    """(N, V) for the deflated Sharpe ratio: the number of distinct configurations tried and
    the sample variance of their per-candle Sharpe ratios (0.0 when fewer than two).

    Bailey & López de Prado deflate a Sharpe ratio by the best one expected from N independent
    trials of worthless strategies, about ``sqrt(V) * ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e)))``
    (γ: Euler–Mascheroni), where N is the number of independent trials and V the variance of
    their Sharpe estimates. So:

    * a configuration is counted once however often it was run (one ``config_hash``): running
      it again is not another try at finding something; its Sharpe ratio is the mean of its
      runs' (several runs of one configuration are one noisier estimate, not several trials);
    * baselines (names starting ``baseline:``) are left out: they are the references each
      candidate is compared with, not alternatives the winner was selected from;
    * trials without a Sharpe ratio are left out: they say nothing about V, and a run too short
      or too flat for a Sharpe ratio was not a contender;
    * validations are left out: a candidate model version judged by the validation gate on a
      two-week window is a step inside one configuration's run (its continuous learning), not
      another configuration of the system the reported one was selected from; its Sharpe ratio
      is of a window far shorter than the trials', which would swell V.

    The Sharpe ratios are per candle, so pass trials of one timeframe: per-candle figures of
    different timeframes are in different units.

    >>> from dataclasses import replace
    >>> base = Trial("backtest", "sma", "a" * 64, "v", ("BTCUSDT",), "1h", 0, 1, 0, {}, 0.1, 9, 0)
    >>> n, v = dsr_inputs([base, replace(base, sharpe=0.3), replace(base, config_hash="b" * 64)])
    >>> n, round(v, 6)  # Sharpe ratios 0.2 (the mean of a's two runs) and 0.1
    (2, 0.005)
    """
    by_config: dict[str, list[float]] = {}
    for trial in trials:
        if trial.sharpe is None or trial.is_baseline or trial.kind == VALIDATION:
            continue
        by_config.setdefault(trial.config_hash, []).append(trial.sharpe)
    sharpes = [fmean(values) for values in by_config.values()]
    return len(sharpes), (variance(sharpes) if len(sharpes) >= 2 else 0.0)


def candle_returns(equity: Sequence[float] | np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The returns from one equity point to the next. An account that reached zero equity ends
    its returns there (the -100 % into zero is the last one; nothing after it is a return).

    >>> candle_returns([100.0, 110.0, 99.0]).round(4).tolist()
    [0.1, -0.1]
    >>> candle_returns([100.0, 50.0, 0.0, 0.0]).tolist()
    [-0.5, -1.0]
    """
    values = np.asarray(equity, dtype=np.float64)
    if values.ndim != 1 or not np.all(np.isfinite(values)):
        raise ValueError("equity: must be a 1-d sequence of finite numbers")
    gone = np.flatnonzero(values <= 0.0)
    if len(gone):
        values = values[: gone[0] + 1]
    if len(values) < 2:
        return np.zeros(0)
    returns: np.ndarray[Any, Any] = values[1:] / values[:-1] - 1.0
    return returns


def per_candle_sharpe(equity: Sequence[float] | np.ndarray[Any, Any]) -> float | None:
    """Mean over standard deviation (ddof=1) of :func:`candle_returns`: the trial's Sharpe ratio
    per candle, risk-free rate 0. None with fewer than two returns or returns without variation.

    >>> round(per_candle_sharpe([100.0, 101.0, 100.0, 102.0]) or 0.0, 4)
    0.4402
    >>> per_candle_sharpe([100.0, 100.0, 100.0]) is None
    True
    """
    returns = candle_returns(equity)
    if len(returns) < 2 or not float(np.std(returns, ddof=1)) > 0.0:
        return None
    value = sharpe_ratio(returns, 1.0)  # the one Sharpe of the project, not annualised
    return value if math.isfinite(value) else None


def annualised(sharpe: float, timeframe: str) -> float:
    """A per-candle Sharpe ratio scaled by √(candles in a 365-day year), for display.

    >>> round(annualised(0.1, "1d"), 4)
    1.9105
    """
    return sharpe * math.sqrt(365 * MS_PER_DAY / timeframe_ms(timeframe))
