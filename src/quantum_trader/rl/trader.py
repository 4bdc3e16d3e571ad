"""The trader an RL environment puts in its session: the decision pipeline, stopped at the
strategy selection so that the environment's step can answer it (``rl/env.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quantum_trader.decision.inputs import PendingDecision
from quantum_trader.decision.pipeline import DecisionPipeline
from quantum_trader.engine.trader import TradingContext


class SteppedTrader:
    """A :class:`~quantum_trader.engine.trader.Trader` that opens each decision of its
    pipeline (``DecisionPipeline.open_decision``) and leaves it open in :attr:`pending` for its
    owner to :meth:`close`; a decision with nothing to choose (indicators still warming up) is
    closed at once. A candle pushed while a decision is still open is refused: the pipeline
    would decide on a later candle before the earlier decision's order."""

    def __init__(self, pipeline: DecisionPipeline) -> None:
        self.pipeline = pipeline
        self.name = pipeline.name
        self.config = pipeline.config
        self.pending: PendingDecision | None = None

    def bind(self, context: TradingContext) -> None:
        self.pipeline.bind(context)

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
        if self.pending is not None:
            raise RuntimeError(
                f"{symbol} candle at {open_time} pushed while the decision at "
                f"{self.pending.candle.open_time} is still open"
            )
        pending = self.pipeline.open_decision(symbol, open_time, close_time, o, h, lo, c, v)
        if pending is None:
            return
        if pending.selection is None:
            self.pipeline.close_decision(pending)
            return
        self.pending = pending

    def close(self, pending: PendingDecision) -> None:
        """Finish the open decision (its selector's answer set by the owner)."""
        if pending is not self.pending:
            raise RuntimeError("SteppedTrader.close: not the open decision")
        self.pending = None
        self.pipeline.close_decision(pending)

    def state(self) -> dict[str, Any]:
        return self.pipeline.state()

    def restore(self, state: Mapping[str, Any]) -> None:
        self.pipeline.restore(state)
