"""The model lines' candidate experiments: each challenger continuous learning puts in the
shadow gets an experiment, production against it, fed from its own shadow pair.

Continuous learning makes a new version of a model line (``xgb/BTCUSDT/h4``) the challenger of
the line's slots and shadow trading starts a pair of accounts on it: the challenger's account
and production's twin, at the same prices, fees and funding. :meth:`ModelLineExperiments.
on_challenger`, heard after shadow trading, lands the new challenger as a candidate of its
line (``experiments/candidates.CandidateExperiments``, one per line) with that pair's two
sub-ledgers as its arms; a line left without a challenger (promoted or retired) ends its
experiment. The experiments are the PPO line's kind: shadow mode, the CLI's defaults, named
``<line>@v<version>``, created by the learning daemon, none for a candidate whose predecessor
stayed under the minimum sample.

They are fed after the pairs on every candle; while none is fed the candles are quiet to the
engine's fast-forward, and those it skips are still counted (the stint a candidate stays,
which that guard measures). ``app/model_candidates.py`` wires it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quantum_trader.domain.time import fmt
from quantum_trader.engine.engine import BarColumns
from quantum_trader.experiments.candidates import CONTROL, Candidate, CandidateExperiments
from quantum_trader.experiments.records import ExperimentStore
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.status.registry import ModuleHandle

#: who lands a model line's candidates (the experiments' creator names it)
LEARNING_MODULE = "continuous_learning"
#: a line's running shadow pair: (challenger version, twin's ledger, challenger's ledger)
PairBooks = tuple[int, Portfolio, Portfolio]


class ModelLineExperiments:
    """Every model line's candidate experiments, started and ended with its shadow pairs;
    ``pair``: a line's running pair as (version, twin's ledger, challenger's ledger), None
    when it has none."""

    def __init__(
        self,
        store: ExperimentStore,
        pair: Callable[[str], PairBooks | None],
        now: Callable[[], int],
        handle: ModuleHandle,
        *,
        seed: int = 0,
    ) -> None:
        self._store = store
        self._pair = pair
        self._now = now
        self._handle = handle
        self._seed = seed
        self.lines: dict[str, CandidateExperiments] = {}

    def on_challenger(self, line: str, version: int | None) -> None:
        """``line``'s challenger is now ``version`` (None: none); shadow trading heard it
        first, so the pair of a new challenger is running (or could not start: nothing)."""
        now = self._now()
        experiments = self.lines.get(line)
        if version is None:
            if experiments is not None:
                experiments.end(now, "the line has no challenger now: it was promoted or retired")
            return
        pair = self._pair(line)
        if pair is None or pair[0] != version:
            return
        books = (pair[1], pair[2])
        if experiments is None:
            experiments = self._line(line, *books)
        why = f"{LEARNING_MODULE} put {line} v{version} in the shadow at {fmt(now)}"
        experiments.land(Candidate(line, version, why, kind="model"), now, books=books)

    def _line(self, line: str, control: Portfolio, treatment: Portfolio) -> CandidateExperiments:
        def version(arm: str) -> str:
            pair = self._pair(line)
            if arm == CONTROL or pair is None:
                return f"{line}@production"
            return f"{line}@v{pair[0]}"

        experiments = CandidateExperiments(
            self._store, line, control, treatment, version,
            seed=self._seed, on_change=self._show,
        )  # fmt: skip
        self.lines[line] = experiments
        return experiments

    # --- fed after the pairs ----------------------------------------------------------------
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
        for experiments in self.lines.values():
            experiments.on_bar(symbol, open_time, close_time, o, h, lo, c, v)

    def quiet_until(self, symbol: str, bars: BarColumns, start: int, stop: int) -> int:
        """Quiet while no experiment is fed (a pair starts in a scheduler job, which ends any
        stretch the engine skips)."""
        return start if any(e.feed is not None for e in self.lines.values()) else stop

    def skip_bars(self, symbol: str, bars: BarColumns, start: int, stop: int) -> None:
        if stop > start:
            times = bars.close_time[start:stop].tolist()
            for experiments in self.lines.values():
                experiments.passed(times)

    def finish(self) -> None:
        """The run ends: the experiments go on in the store (the next run resumes them)."""
        for experiments in self.lines.values():
            experiments.finish()

    # --- evidence ---------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The run summary's ``ab_testing.model_candidates``, by line."""
        return {
            line: {
                "running": None if e.experiment is None or not e.experiment.running
                else e.experiment.spec.name,
                "created": list(e.created),
                "superseded": list(e.superseded),
                "skipped": len(e.skipped),
                "skip_reason": e.skip_reason,
            }
            for line, e in sorted(self.lines.items())
        }  # fmt: skip

    def _show(self) -> None:
        lines = self.lines.values()
        self._handle.gauge(
            "model_candidate_experiments_created", sum(len(e.created) for e in lines)
        )
        self._handle.gauge(
            "model_candidate_experiments_skipped", sum(len(e.skipped) for e in lines)
        )
        running = sum(1 for e in lines if e.experiment is not None and e.experiment.running)
        self._handle.gauge("model_candidate_experiments_running", running)
