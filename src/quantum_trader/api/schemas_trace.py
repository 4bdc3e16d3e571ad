"""The decision trace behind one closed trade (``GET /trades/{trade_id}/trace``)."""

from __future__ import annotations

from pydantic import JsonValue

from quantum_trader.api.schemas import OrderOut, Out, TradeOut


class VoteOut(Out):
    """One member's vote on the decision, with the weight the ensemble gave it."""

    member: str  # name@registry version
    p_down: float
    p_flat: float
    p_up: float
    weight: float


class SignalOut(Out):
    """The ensemble's verdict: its direction, probability, confidence and agreeing members."""

    direction: str
    probability: float
    confidence: float
    agreeing: int


class DecisionOut(Out):
    """``domain/decisions.DecisionRef``: who decided an order (strategy, selector, sizer, the
    members that voted with their registry versions, votes and weights, the ensemble's
    verdict, the regime it was chosen in)."""

    decision_id: str
    strategy: str
    selector: str
    sizer: str
    members: list[str]
    regime: str
    votes: list[VoteOut]  # empty for decisions stored before votes were kept
    signal: SignalOut | None


class TracedOrderOut(OrderOut):
    reduce_only: bool
    decision: DecisionOut | None


class RiskVerdictOut(Out):
    """One risk decision on the trade's decision id: the verdict, its reasons and the order
    intent it judged (leverage, stops, the strategy's reason)."""

    time: int
    outcome: str
    requested_quantity: float
    final_quantity: float
    trading_state: str
    risk_mode: str
    reasons: list[str]
    intent: dict[str, JsonValue]


class TradeTraceOut(Out):
    run_id: str
    trade: TradeOut
    decision: DecisionOut | None  # None: a trade not opened by the decision path
    orders: list[TracedOrderOut]
    risk: list[RiskVerdictOut]
    votes_recorded: bool
    note: str
