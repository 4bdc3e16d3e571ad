"""A decision pipeline that only warms up: the tests that drive ``DecisionPipeline.warm_up``
to check what it keeps (features, labels, the cost gate's moves) build it here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from quantum_trader.decision.inputs import PipelineConfig
from quantum_trader.decision.parts import PipelineParts
from quantum_trader.decision.pipeline import DecisionPipeline
from quantum_trader.domain.market import FundingRate
from quantum_trader.engine.trader import TradingContext
from quantum_trader.strategy.cost_gate import EntryCostGate


def warm_up_pipeline(
    config: PipelineConfig,
    symbols: Sequence[str],
    *,
    gate: EntryCostGate | None = None,
    funding: Mapping[str, Sequence[FundingRate]] | None = None,
) -> DecisionPipeline:
    """A bound pipeline whose parts are all absent but the entry gate: ``warm_up`` reads no
    other (a call to ``on_bar`` would fail on the first missing part)."""
    unused = cast(Any, None)

    def build(context: TradingContext) -> PipelineParts:
        return PipelineParts(
            ensembles={},
            intelligence=None,
            regime=None,
            controller=None,
            selector=unused,
            strategies=unused,
            sizer=unused,
            risk=unused,
            policy=unused,
            risk_view=unused,
            entry_gate=gate,
        )

    pipeline = DecisionPipeline(config, build, symbols=list(symbols), funding=funding)
    pipeline.bind(cast(TradingContext, None))
    return pipeline
