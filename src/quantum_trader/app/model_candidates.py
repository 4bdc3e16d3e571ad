"""Wires the model lines' candidate experiments (``experiments/model_lines.py``) to the run:
heard from the slot book after shadow trading (``app/shadow_trading.py``), fed after its pairs
on every candle, finished with the run."""

from __future__ import annotations

from collections.abc import Callable

from quantum_trader.adapters.sql.experiments import SqlExperimentStore
from quantum_trader.app.runtime import Runtime
from quantum_trader.decision.shadow import ShadowTrading
from quantum_trader.engine.session import TradingSession
from quantum_trader.experiments.model_lines import ModelLineExperiments, PairBooks
from quantum_trader.lifecycle import Hooks, Lifecycle
from quantum_trader.status.registry import ModuleHandle

#: the slot book's listeners of ``(line, challenger version)``
ChallengerListeners = list[Callable[[str, int | None], object]]
#: the model lines' shadow trading and the slot book's listeners (None, None: none)
ModelLines = tuple[ShadowTrading | None, ChallengerListeners | None]


def pair_books(trading: ShadowTrading) -> Callable[[str], PairBooks | None]:
    """A line's running pair in ``trading`` as its version and the two accounts' ledgers."""

    def books(line: str) -> PairBooks | None:
        pair = trading.active.get(line)
        if pair is None or pair.version is None:
            return None
        return pair.version, pair.twin.portfolio, pair.challenger.portfolio

    return books


def attach_model_candidates(
    rt: Runtime,
    session: TradingSession,
    lifecycle: Lifecycle,
    trading: ShadowTrading | None,
    listeners: ChallengerListeners | None,
    store: SqlExperimentStore,
    handle: ModuleHandle,
) -> ModelLineExperiments | None:
    """Hear ``listeners`` (the slot book's, after shadow trading's) and feed the model lines'
    candidate experiments after the pairs of ``trading`` on every candle of ``session``; None
    without shadow trading."""
    if trading is None or listeners is None:
        return None
    lines = ModelLineExperiments(
        store, pair_books(trading), rt.clock.now, handle, seed=rt.settings.seed
    )
    for line, pair in sorted(trading.active.items()):  # started before the replay
        lines.on_challenger(line, pair.version)
    listeners.append(lines.on_challenger)
    session.follow(lines.on_bar, lines)
    lifecycle.start(Hooks("ab_testing.model_candidates", stop=lines.finish))
    return lines
