"""Per-strategy expectancy by regime, from closed trades, and the bench it leads to.

Every closed trade of the decision path (``execution.trade.closed``, carrying the
:class:`~quantum_trader.domain.decisions.DecisionRef` of the decision that opened it) adds its
**net return** to the window of its (strategy, regime) cell: the regime is the symbol's regime
when the strategy was chosen. The net return is the trade's PnL after fees and funding as a
fraction of its entry notional (quantity × entry price): the edge of the strategy's entries and
exits, not of the size the risk mode gave them, so a CONSERVATIVE stretch does not hide a
losing strategy nor a TURBO one flatter it.

A cell is **benched** when the mean of its last ``window`` returns is significantly negative:
at least ``min_trades`` of them and a one-sided Student t-test, ``t = mean / (sd / √n)``
below the ``alpha`` quantile of t with ``n - 1`` degrees of freedom. The test is repeated after
every trade of the cell (the evidence is peeked at), so ``alpha`` is per look and the false
benches add up over the looks. Measured with zero-mean, fat-tailed returns (Student t, 3 d.o.f.,
400 seeds; ``tests/strategy/test_expectancy.py`` holds the first bound): the default 1 % benches
a zero-expectancy strategy within its first 30 trades 2.5 % of the time, within 100 trades 13 %;
a strategy losing 0.5 % per trade (sd 1 %) is benched within 60 trades 98.5 % of the time,
after 15 trades at the median. A false bench costs its cell one bench period, no more. While a cell is benched the decision path
substitutes Neutral for that strategy in that regime (``decision/pipeline.py`` ``_select``):
it opens nothing and closes what is open.

**Re-admission.** A benched strategy trades no more in that regime, so no new evidence of its
own can come. The bench therefore lasts ``bench_ms`` of engine time; then the cell is
re-admitted **on probation**: its window is emptied (the old trades already cost it a bench;
the market has moved on) and it must lose significantly again over ``min_trades`` new trades
to be benched again, for twice as long each time (up to ``max_bench_multiple`` × ``bench_ms``).

State is in memory and deterministic for a given trade stream; :meth:`ExpectancyTracker.state`
and :meth:`ExpectancyTracker.restore` give it as a JSON-able document (the run saves it at its
end; no run restores it: every run is a replay of its own, see ``app/run_scope.py``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from quantum_trader.bus import topics
from quantum_trader.bus.port import EventBus
from quantum_trader.bus.typed import subscribe_records
from quantum_trader.domain.errors import DomainValidationError
from quantum_trader.domain.positions import Trade
from quantum_trader.domain.time import MS_PER_HOUR, fmt
from quantum_trader.status.registry import ModuleHandle, ModuleState

#: the key of a cell: (strategy, regime value; "" when no regime was known)
Cell = tuple[str, str]


@dataclass(frozen=True, slots=True)
class ExpectancyConfig:
    """How much evidence benches a strategy, and for how long.

    >>> ExpectancyConfig(window=5, min_trades=8)
    Traceback (most recent call last):
    ...
    quantum_trader.domain.errors.DomainValidationError: ExpectancyConfig.min_trades=8: must be <= window (5)
    """

    window: int = 30
    min_trades: int = 10
    alpha: float = 0.01
    bench_ms: int = 168 * MS_PER_HOUR
    max_bench_multiple: int = 8

    def __post_init__(self) -> None:
        name = "ExpectancyConfig"
        if self.min_trades < 3:
            raise DomainValidationError(name, "min_trades", self.min_trades, "must be >= 3")
        if self.min_trades > self.window:
            raise DomainValidationError(
                name, "min_trades", self.min_trades, f"must be <= window ({self.window})"
            )
        if not 0 < self.alpha < 0.5:
            raise DomainValidationError(name, "alpha", self.alpha, "must be in (0, 0.5)")
        if self.bench_ms <= 0 or self.max_bench_multiple < 1:
            raise DomainValidationError(
                name,
                "bench_ms/max_bench_multiple",
                (self.bench_ms, self.max_bench_multiple),
                "must be > 0 / >= 1",
            )


@dataclass(frozen=True, slots=True)
class Expectancy:
    """The statistics of one cell's window: trades, mean and sd of the net return, t."""

    n: int
    mean: float
    sd: float
    t: float

    def describe(self) -> str:
        return f"n={self.n} mean {self.mean:+.3%} sd {self.sd:.3%} t={self.t:.2f}"


def expectancy(returns: deque[float] | list[float]) -> Expectancy:
    """Mean, sample sd and the t statistic of ``returns`` (t = -inf for identical losses).

    >>> e = expectancy([-0.01, -0.02, -0.03])
    >>> round(e.mean, 4), round(e.sd, 4), round(e.t, 3)
    (-0.02, 0.01, -3.464)
    """
    n = len(returns)
    if n == 0:
        return Expectancy(0, 0.0, 0.0, 0.0)
    mean = math.fsum(returns) / n
    var = math.fsum((r - mean) ** 2 for r in returns) / (n - 1) if n > 1 else 0.0
    sd = math.sqrt(var)
    no_spread = -math.inf if mean < 0 else 0.0  # identical returns: certain (or no) loss
    t = mean / (sd / math.sqrt(n)) if sd > 0 else no_spread
    return Expectancy(n, mean, sd, t)


def critical_t(n: int, alpha: float) -> float:
    """The one-sided lower critical value: P(T < c) = alpha for Student t with n - 1 d.o.f.

    >>> round(critical_t(10, 0.01), 3)
    -2.821
    """
    # imported here: the risk repository imports this module for its records, and
    # `risk kill-switch` should not wait for scipy (~0.1 s); this runs once per closed trade
    from scipy.special import stdtrit

    return float(stdtrit(n - 1, alpha))


@dataclass(frozen=True, slots=True)
class BenchChange:
    """A cell benched (``benched``, until ``until``) or re-admitted, with the statistics."""

    at: int
    strategy: str
    regime: str
    benched: bool
    until: int | None
    trades: int
    mean_return: float
    t_stat: float
    reason: str


class BenchJournal(Protocol):
    def record_bench_change(self, change: BenchChange) -> None: ...


def trade_return(trade: Trade) -> float:
    """Net PnL (after fees and funding) as a fraction of the entry notional."""
    return trade.net_pnl / (trade.quantity * trade.entry_price)


class ExpectancyTracker:
    """Rolling net expectancy per (strategy, regime) from closed trades, and the bench."""

    def __init__(
        self,
        config: ExpectancyConfig,
        *,
        journal: BenchJournal | None = None,
        handle: ModuleHandle | None = None,
    ) -> None:
        self.config = config
        self._journal = journal
        self._handle = handle
        self._base_reason = handle.status.reason if handle is not None else ""
        self._returns: dict[Cell, deque[float]] = {}
        self._benched: dict[Cell, BenchChange] = {}
        self._benches: dict[Cell, int] = {}  # benches so far, for the growing duration
        self.changes: list[BenchChange] = []  # this tracker's changes, in order

    # --- inputs ---------------------------------------------------------------------------
    def attach(self, bus: EventBus) -> None:
        """Follow ``execution.trade.closed``: the one path by which outcomes arrive, in replay,
        paper and live alike."""
        subscribe_records(bus, topics.TRADE_CLOSED, self._on_trade)

    def _on_trade(self, trade: Trade) -> None:
        ref = trade.decision
        if ref is None:
            return  # not the decision path's (an operator's or a rule trader's)
        self.record(ref.strategy, ref.regime, trade_return(trade), at=trade.exit_time)

    def record(self, strategy: str, regime: str, net_return: float, *, at: int) -> None:
        """Add one closed trade's net return to its cell; bench the cell if it now fails."""
        if not math.isfinite(net_return):
            raise DomainValidationError(
                "ExpectancyTracker", "net_return", net_return, "must be finite"
            )
        self.release_due(at)
        cell = (strategy, regime)
        window = self._returns.get(cell)
        if window is None:
            window = self._returns[cell] = deque(maxlen=self.config.window)
        window.append(net_return)
        if self._handle is not None:
            self._handle.count("expectancy_trades")
        if cell not in self._benched:
            self._judge(cell, window, at)

    def _judge(self, cell: Cell, window: deque[float], at: int) -> None:
        cfg = self.config
        if len(window) < cfg.min_trades:
            return
        stats = expectancy(window)
        critical = critical_t(stats.n, cfg.alpha)
        if not stats.t < critical:
            return
        count = self._benches.get(cell, 0) + 1
        self._benches[cell] = count
        duration = cfg.bench_ms * min(2 ** (count - 1), cfg.max_bench_multiple)
        until = at + duration
        reason = (
            f"{stats.describe()} < {critical:.2f} (one-sided alpha {cfg.alpha:g}): "
            f"benched {duration / MS_PER_HOUR:g} h until {fmt(until)} (bench #{count})"
        )
        change = BenchChange(
            at, cell[0], cell[1], True, until, stats.n, stats.mean, stats.t, reason
        )
        self._benched[cell] = change
        self._note(change, "expectancy_benches")

    def release_due(self, now: int) -> list[BenchChange]:
        """Re-admit, on probation, every cell whose bench has ended by ``now``."""
        out = []
        for cell, bench in list(self._benched.items()):
            assert bench.until is not None
            if now < bench.until:
                continue
            del self._benched[cell]
            window = self._returns.get(cell, deque())
            stats = expectancy(window)
            reason = (
                f"bench #{self._benches[cell]} ended at {fmt(bench.until)}: re-admitted on "
                f"probation, window emptied ({stats.describe()} while benched)"
            )
            window.clear()
            change = BenchChange(
                now, cell[0], cell[1], False, None, stats.n, stats.mean, stats.t, reason
            )
            self._note(change, "expectancy_unbenches")
            out.append(change)
        return out

    def _note(self, change: BenchChange, counter: str) -> None:
        self.changes.append(change)
        if self._journal is not None:
            self._journal.record_bench_change(change)
        handle = self._handle
        if handle is None:
            return
        handle.count(counter)
        handle.gauge("strategies_benched", len(self._benched))
        shown = "; ".join(
            f"{s} in {r or 'no regime'} until {fmt(b.until or 0)} (n={b.trades}, "
            f"mean {b.mean_return:+.3%}, t={b.t_stat:.2f})"
            for (s, r), b in sorted(self._benched.items())
        )
        text = f"{self._base_reason}; benched: {shown}" if shown else self._base_reason
        handle.set_state(ModuleState.ACTIVE, text)

    # --- the decision path's question -----------------------------------------------------
    def bench_of(self, strategy: str, regime: str, now: int) -> BenchChange | None:
        """The bench in force for ``strategy`` in ``regime`` at ``now`` (None: it may trade)."""
        if not self._benched:
            return None
        self.release_due(now)
        return self._benched.get((strategy, regime))

    def benched(self) -> dict[Cell, BenchChange]:
        """The cells benched now (as of the last call that looked at the clock)."""
        return dict(self._benched)

    def expectancy_of(self, strategy: str, regime: str) -> Expectancy:
        return expectancy(self._returns.get((strategy, regime), deque()))

    # --- state ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """A JSON-able document of everything a restart needs (windows, benches, counts)."""
        return {
            "returns": [[s, r, list(w)] for (s, r), w in sorted(self._returns.items())],
            "benched": [
                [s, r, b.at, b.until, b.trades, b.mean_return, b.t_stat, b.reason]
                for (s, r), b in sorted(self._benched.items())
            ],
            "benches": [[s, r, n] for (s, r), n in sorted(self._benches.items())],
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take up a document written by :meth:`state` (windows longer than the configured
        window keep their newest returns)."""
        self._returns = {
            (str(s), str(r)): deque(map(float, w), maxlen=self.config.window)
            for s, r, w in state["returns"]
        }
        self._benched = {
            (str(s), str(r)): BenchChange(
                int(at), str(s), str(r), True, int(until), int(n), float(m), float(t), str(why)
            )
            for s, r, at, until, n, m, t, why in state["benched"]
        }
        self._benches = {(str(s), str(r)): int(n) for s, r, n in state["benches"]}
        if self._handle is not None:
            self._handle.gauge("strategies_benched", len(self._benched))
