"""The decision path's two calls into meta-labelling's secondary model
(``strategy/meta_filter.py``), kept out of ``pipeline.py`` (at its size limit): every rule
firing recorded as an event, every entry judged."""

from __future__ import annotations

from quantum_trader.decision.inputs import SymbolInputs
from quantum_trader.decision.parts import PipelineParts
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.strategy.intents import TradeIntent
from quantum_trader.strategy.market_state import MarketState
from quantum_trader.strategy.meta_filter import MetaFilter
from quantum_trader.strategy.strategies.base import Strategy


def record_primary(
    meta: MetaFilter,
    sym: SymbolInputs,
    strategy: Strategy,
    market: MarketState,
    policy: TradingPolicy,
    timeframe_ms: int,
) -> None:
    """The chosen strategy's rule on this candle, an event whether or not an entry follows:
    the side it fires, at the close, with the stop and target the strategy would set."""
    chosen = strategy.rule(market)
    if chosen is None or sym.last_row is None:
        return
    side, distance = chosen[0], market.close * policy.stop_loss_pct
    exits = (
        market.close,
        market.close - side.sign * distance,
        strategy.take_profit(side, market, distance),
    )
    meta.record(
        market.symbol,
        market.time - timeframe_ms,  # the decided candle's open time
        side,
        strategy.name,
        exits,
        sym.last_row,
        funding_rate=sym.last_funding_rate,
    )


def meta_passes(sym: SymbolInputs, intent: TradeIntent, parts: PipelineParts) -> bool:
    """The secondary model's verdict on an entry; its probability is kept for the sizer
    (``SymbolInputs.meta_probability``), a refusal counted on the strategies' module."""
    assert parts.meta_filter is not None and sym.last_row is not None
    verdict = parts.meta_filter.judge(sym.last_row, intent.side, intent.strategy)
    sym.meta_probability = verdict.probability
    handle = parts.handles.get("strategies")
    if not verdict.passed and handle is not None:
        handle.count("entries_refused_by_meta_filter")
    return verdict.passed
