"""The base of every strategy: exits first, then entries; subclasses fill two hooks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

from quantum_trader.domain.orders import Side
from quantum_trader.domain.policy import TradingPolicy
from quantum_trader.domain.signals import Direction, Signal
from quantum_trader.strategy.intents import TradeAction, TradeIntent
from quantum_trader.strategy.market_state import MarketState


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    #: ensemble confidence below which a strategy does not enter. The ensemble's confidence is
    #: the margin of the signal's class over the runner-up class (0 when FLAT), so 0.05 asks the
    #: direction to lead by 5 points on top of the consensus rule; 3-class hourly models rarely
    #: give margins above ~0.3, so a margin of 0.55 (the first default) never traded.
    min_confidence: float = 0.05
    #: take-profit distance as a multiple of the stop distance
    reward_risk: float = 2.0
    #: who picks an entry's side (QT_ENTRY_RULE). ``"signal"``: the strategy's rule *and* the
    #: ensemble's direction must agree (today's default). ``"primary"``: meta-labelling (issue
    #: 24 item 3) — the strategy's own rule is the primary decision and picks the side alone;
    #: the ensemble only filters it afterwards through the entry cost gate (its probabilities
    #: priced against fees and funding), and exits follow the rule, the stop and the target.
    entry_rule: Literal["signal", "primary"] = "signal"

    def __post_init__(self) -> None:
        if self.entry_rule not in ("signal", "primary"):
            raise ValueError(f"StrategyConfig.entry_rule={self.entry_rule!r}: signal or primary")


def signal_side(signal: Signal) -> Side | None:
    if signal.direction is Direction.UP:
        return Side.BUY
    if signal.direction is Direction.DOWN:
        return Side.SELL
    return None


class Strategy(ABC):
    """Turns the ensemble signal plus market state into at most one trade intent.

    ``decide`` holds the shared logic (one position per symbol, no pyramiding, stop at the
    policy's stop distance, target at ``reward_risk`` × that distance); subclasses say when to
    enter (:meth:`entry`) and when to leave (:meth:`exit_reason`).
    """

    name: ClassVar[str]

    def __init__(self, config: StrategyConfig | None = None) -> None:
        self.config = config or StrategyConfig()

    @abstractmethod
    def entry(self, signal: Signal, market: MarketState) -> tuple[Side, str] | None:
        """The side to enter and why, or None (the rule with the signal's agreement)."""

    @abstractmethod
    def rule(self, market: MarketState) -> tuple[Side, str] | None:
        """The strategy's own rule, without the signal: the primary decision of
        meta-labelling (``entry_rule="primary"``)."""

    @property
    def primary(self) -> bool:
        return self.config.entry_rule == "primary"

    @abstractmethod
    def exit_reason(self, signal: Signal, market: MarketState, position: float) -> str | None:
        """Why to close the open ``position`` (signed quantity), or None to hold."""

    def take_profit(self, side: Side, market: MarketState, stop_distance: float) -> float:
        return market.close + side.sign * self.config.reward_risk * stop_distance

    def decide(
        self, signal: Signal, market: MarketState, position: float, policy: TradingPolicy
    ) -> TradeIntent | None:
        if signal.symbol != market.symbol:
            raise ValueError(f"{self.name}: signal for {signal.symbol}, market of {market.symbol}")
        if position != 0:
            why = self.exit_reason(signal, market, position)
            if why is None:
                return None
            side = Side.SELL if position > 0 else Side.BUY
            return TradeIntent(
                market.symbol,
                market.time,
                TradeAction.EXIT,
                side,
                market.close,
                self.name,
                why,
                signal.confidence,
            )
        if self.primary:
            chosen = self.rule(market)
        elif signal.confidence < self.config.min_confidence:
            return None
        else:
            chosen = self.entry(signal, market)
        if chosen is None:
            return None
        side, why = chosen
        distance = market.close * policy.stop_loss_pct
        return TradeIntent(
            symbol=market.symbol,
            time=market.time,
            action=TradeAction.ENTRY,
            side=side,
            price=market.close,
            strategy=self.name,
            reason=why,
            confidence=signal.confidence,
            stop_loss=market.close - side.sign * distance,
            take_profit=self.take_profit(side, market, distance),
        )
