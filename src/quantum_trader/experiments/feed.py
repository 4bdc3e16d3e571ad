"""Feeds an experiment from its arms' sub-ledgers, candle by candle.

Each arm trades a portfolio of its own (a shadow account: ``decision/shadow.py``), at the same
prices, fees, slippage and funding as every other arm, so arms never net against each other.
This feed reads those portfolios after the arms have acted on a candle and gives the experiment:

* one **observation** per candle close time, once every symbol of that time is in: each arm's
  equity return over the candle in basis points (the decision metric ``net_return_bp``) and its
  drawdown from its peak (the guardrail). A portfolio's equity curve has one point per close
  time (the last symbol of a time completes it), so a time is complete when the next begins, and
  the last one at :meth:`ExperimentFeed.finish`. The step is the close time, so a replay that
  resumes after a crash hands over times the store already holds, and they are not counted
  twice;
* one **decision unit** per position: when an arm opens a position on a symbol whose slot is
  free, the unit ``<symbol>@<close time>`` is drawn (``Experiment.assign``). The slot stays with
  the drawn arm while it holds that symbol (sticky assignment: an order's life spans several
  candles) and frees when it is flat again; if the drawn arm did not open, the slot is free at
  once (the allocated arm chose to stay out). Only the allocated arm's positions are real
  (``experiments/router.py`` copies them where the experiment routes orders).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from quantum_trader.experiments.experiment import Experiment
from quantum_trader.experiments.records import Assignment, Observation
from quantum_trader.portfolio.portfolio import Portfolio

#: basis points per unit of return
BP = 1e4


@dataclass(slots=True)
class _Peak:
    value: float = 0.0


@dataclass(slots=True)
class PairMoments:
    """Running moments of a treatment's and the control's per-candle values: how closely the
    two arms move decides how much sample an edge needs (docs/experiments.md)."""

    n: int = 0
    sx: float = 0.0
    sy: float = 0.0
    sxx: float = 0.0
    syy: float = 0.0
    sxy: float = 0.0

    def add(self, x: float, y: float) -> None:
        self.n += 1
        self.sx += x
        self.sy += y
        self.sxx += x * x
        self.syy += y * y
        self.sxy += x * y

    def variances(self) -> tuple[float, float, float] | None:
        """(var control, var treatment, covariance); None under two values."""
        if self.n < 2:
            return None
        n = self.n
        vx = (self.sxx - self.sx * self.sx / n) / (n - 1)
        vy = (self.syy - self.sy * self.sy / n) / (n - 1)
        cov = (self.sxy - self.sx * self.sy / n) / (n - 1)
        return vx, vy, cov

    def correlation(self) -> float | None:
        v = self.variances()
        if v is None or v[0] <= 0.0 or v[1] <= 0.0:
            return None
        return v[2] / math.sqrt(v[0] * v[1])

    def samples_for(self, sharpe_edge: float, periods_per_year: float) -> float | None:
        """Paired candles a fixed two-sided test at 5 % needs for 80 % power to see the
        treatment's annualised Sharpe raised by ``sharpe_edge`` at its own volatility, with the
        spread of the difference seen so far (an always-valid test needs more)."""
        v = self.variances()
        if v is None or v[1] <= 0.0:
            return None
        edge = sharpe_edge * math.sqrt(v[1] / periods_per_year)
        spread = v[0] + v[1] - 2.0 * v[2]
        return (1.959964 + 0.841621) ** 2 * spread / (edge * edge)


class ExperimentFeed:
    """Reads ``books`` (arm name -> its sub-ledger's portfolio) into ``experiment``.
    ``version``: what an arm runs now (its policy or table version), stored with each unit."""

    def __init__(
        self,
        experiment: Experiment,
        books: Mapping[str, Portfolio],
        version: Callable[[str], str],
        *,
        on_progress: Callable[[], object] | None = None,
        progress_every: int = 24,
    ) -> None:
        missing = set(experiment.spec.arm_names) - set(books)
        if missing:
            raise ValueError(f"experiment {experiment.spec.name}: no sub-ledger for {missing}")
        self.experiment = experiment
        self.books = dict(books)
        self.version = version
        self._next = 1  # index of the first equity point not yet observed (needs one before it)
        self._peaks = {arm: _Peak() for arm in books}
        self._held: dict[str, dict[str, bool]] = {}
        #: per symbol, the unit that holds its slot now
        self.slots: dict[str, Assignment] = {}
        self.observed = 0  # observations counted (not those skipped as already stored)
        #: every ``progress_every`` observations: a stop made elsewhere is taken up
        #: (``Experiment.refresh``) and ``on_progress`` is told (the status line)
        self.on_progress = on_progress
        self.progress_every = progress_every
        self._progress_at = 0
        #: per treatment arm, its values' moments beside the control's
        self.moments = {a: PairMoments() for a in experiment.spec.arm_names[1:]}

    def on_bar(
        self,
        symbol: str,
        open_time: int,
        close_time: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
    ) -> None:
        """After every arm acted on the candle: observe the times now complete, then units."""
        self._observe(complete_until=-1)
        self._units(symbol, close_time)
        if self.observed >= self._progress_at + self.progress_every:
            self._progress_at = self.observed
            self.experiment.refresh()
            if self.on_progress is not None:
                self.on_progress()

    def finish(self) -> None:
        """The run ends: its last close time is complete too."""
        self._observe(complete_until=0)

    def _observe(self, *, complete_until: int) -> None:
        control = self.books[self.experiment.spec.control]
        times = control.equity_times
        end = len(times) + complete_until  # the points before ``end`` are complete
        while self._next < end:
            i = self._next
            values: dict[str, float] = {}
            drawdowns: dict[str, float] = {}
            for arm, book in self.books.items():
                if book.equity_times[i] != times[i]:
                    raise ValueError(
                        f"experiment {self.experiment.spec.name}: arm {arm}'s sub-ledger is at "
                        f"{book.equity_times[i]} where the control's is at {times[i]}: the arms "
                        "must follow the same candles"
                    )
                before, now = book.equity_values[i - 1], book.equity_values[i]
                values[arm] = (now / before - 1.0) * BP if before > 0 else 0.0
                peak = self._peaks[arm]
                peak.value = max(peak.value, before, now)
                drawdowns[arm] = 1.0 - now / peak.value if peak.value > 0 else 0.0
            self._next = i + 1
            running = {a: values[a] for a in self.experiment.arms}
            if self.experiment.running and self.experiment.observe(
                Observation(times[i], times[i], running, drawdowns)
            ):
                self.observed += 1
                base = running[self.experiment.spec.control]
                for arm, moments in self.moments.items():
                    if arm in running:
                        moments.add(base, running[arm])

    def _units(self, symbol: str, at: int) -> None:
        held = {arm: self.books[arm].quantity(symbol) != 0.0 for arm in self.experiment.arms}
        before = self._held.get(symbol, {})
        self._held[symbol] = held
        slot = self.slots.get(symbol)
        if slot is not None and not held.get(slot.arm, False):
            del self.slots[symbol]  # the allocated arm is flat: the slot frees
            slot = None
        opened = any(now and not before.get(arm, False) for arm, now in held.items())
        if slot is not None or not opened or not self.experiment.running:
            return
        assignment = self.experiment.assign(f"{symbol}@{at}", at, self.version)
        if assignment is not None and held.get(assignment.arm, False):
            self.slots[symbol] = assignment
