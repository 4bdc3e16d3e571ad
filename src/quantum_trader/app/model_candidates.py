"""The model lines' candidate experiments: each challenger continuous learning puts in the
shadow gets an experiment, production against it, fed from its shadow pair.

Continuous learning (``app/continuous_learning.py``) puts a new version of a model line
(``xgb/BTCUSDT/h4``) in SHADOW, then CANARY, as a challenger of the line's slots; its slot book
tells its listeners ``(line, challenger version)`` whenever a line's challenger changes, and
shadow trading (``app/shadow_trading.py``) starts a pair of accounts on it: the challenger's
account and production's twin, at the same prices, fees and funding. Here, heard after shadow
trading, a new challenger lands as a candidate of its line
(``experiments/candidates.CandidateExperiments``, one per line) with that pair's two
sub-ledgers as its arms; a line left without a challenger (promoted or retired) ends its
experiment. The experiments are the PPO line's kind (``app/ab_testing.attach_candidates``):
shadow mode, the CLI's defaults, named ``<line>@v<version>``, created by the learning daemon,
none for a candidate whose predecessor stayed under the minimum sample.

They are fed after the pairs on every candle; while none runs, the candles the engine skips
are only counted (the stint a candidate stays, which that guard measures).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.app.runtime import Runtime
from quantum_trader.decision.shadow import ShadowTrading
from quantum_trader.domain.time import fmt
from quantum_trader.engine.engine import BarColumns
from quantum_trader.engine.session import TradingSession
from quantum_trader.experiments.candidates import CONTROL, Candidate, CandidateExperiments
from quantum_trader.lifecycle import Hooks, Lifecycle
from quantum_trader.portfolio.portfolio import Portfolio
from quantum_trader.status.registry import ModuleHandle

#: who lands a model line's candidates (the experiments' creator names it)
LEARNING_MODULE = "continuous_learning"
#: the slot book's listeners of ``(line, challenger version)``
ChallengerListeners = list[Callable[[str, int | None], object]]
#: the model lines' shadow trading and the slot book's listeners (None, None: none)
ModelLines = tuple[ShadowTrading | None, ChallengerListeners | None]


class ModelCandidates:
    """Every model line's candidate experiments, started and ended with its shadow pairs."""

    def __init__(
        self,
        rt: Runtime,
        trading: ShadowTrading,
        store: SqlExperimentStore,
        handle: ModuleHandle,
    ) -> None:
        self._rt = rt
        self._trading = trading
        self._store = store
        self._handle = handle
        self.lines: dict[str, CandidateExperiments] = {}

    def on_challenger(self, line: str, version: int | None) -> None:
        """``line``'s challenger is now ``version`` (None: none); shadow trading heard it
        first, so the pair of a new challenger is running (or could not start: nothing)."""
        now = self._rt.clock.now()
        experiments = self.lines.get(line)
        if version is None:
            if experiments is not None:
                experiments.end(now, "the line has no challenger now: it was promoted or retired")
            return
        pair = self._trading.active.get(line)
        if pair is None or pair.version != version:
            return
        books = (pair.twin.portfolio, pair.challenger.portfolio)
        if experiments is None:
            experiments = self._line(line, *books)
        why = f"{LEARNING_MODULE} put {line} v{version} in the shadow at {fmt(now)}"
        experiments.land(Candidate(line, version, why, kind="model"), now, books=books)

    def _line(self, line: str, control: Portfolio, treatment: Portfolio) -> CandidateExperiments:
        def version(arm: str) -> str:
            pair = self._trading.active.get(line)
            if arm == CONTROL or pair is None:
                return f"{line}@production"
            return f"{line}@v{pair.version}"

        experiments = CandidateExperiments(
            self._store, line, control, treatment, version,
            seed=self._rt.settings.seed, on_change=self._show,
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


def attach_model_candidates(
    rt: Runtime,
    session: TradingSession,
    lifecycle: Lifecycle,
    trading: ShadowTrading | None,
    listeners: ChallengerListeners | None,
    store: SqlExperimentStore,
    handle: ModuleHandle,
) -> ModelCandidates | None:
    """Hear ``listeners`` (the slot book's, after shadow trading's) and feed the model lines'
    candidate experiments after the pairs of ``trading`` on every candle of ``session``; None
    without shadow trading."""
    if trading is None or listeners is None:
        return None
    candidates = ModelCandidates(rt, trading, store, handle)
    for line, pair in sorted(trading.active.items()):  # started before the replay
        candidates.on_challenger(line, pair.version)
    listeners.append(candidates.on_challenger)
    session.follow(candidates.on_bar, candidates)
    lifecycle.start(Hooks("ab_testing.model_candidates", stop=candidates.finish))
    return candidates
