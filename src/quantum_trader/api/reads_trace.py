"""The decision trace of one trade, read from what the engine stores: the trade's decision
reference (``exec_trades.decision_json``), the orders that opened and closed it
(``exec_orders``), and the risk engine's verdicts on that decision (``risk_decisions``).

The execution store reads whole runs or their newest rows; a trade by id, and the orders of
its symbol between its entry and exit, are two indexed-by-run selects here (the tables come
from the adapters; a ``SqlExecutionStore.trade`` read would be the better home for them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, RowMapping, select

from quantum_trader.adapters.sql.tables_execution import exec_orders, exec_trades
from quantum_trader.adapters.sql.tables_risk import risk_decisions
from quantum_trader.api import schemas as s
from quantum_trader.api import schemas_trace as st
from quantum_trader.domain.decisions import DecisionRef

#: what the trace says when a decision was stored before votes and weights were kept
VOTES_NOTE = (
    "this decision was stored before the members' votes and the ensemble's weights were kept "
    "with it; the members that voted and their registry versions were"
)
#: a replay of the same candles makes the same decision ids: the newest verdicts are shown
MAX_VERDICTS = 5


def _decision(raw: str | None) -> st.DecisionOut | None:
    ref = None if raw is None else DecisionRef.from_dict(json.loads(raw))
    if ref is None:
        return None
    votes = [
        st.VoteOut(member=member, p_down=down, p_flat=flat, p_up=up, weight=weight)
        for member, (down, flat, up, weight) in zip(ref.members, ref.votes, strict=False)
    ]
    signal = None
    if ref.signal is not None:
        direction, probability, confidence, agreeing = ref.signal
        signal = st.SignalOut(
            direction=direction, probability=probability, confidence=confidence, agreeing=agreeing
        )
    return st.DecisionOut(
        decision_id=ref.decision_id,
        strategy=ref.strategy,
        selector=ref.selector,
        sizer=ref.sizer,
        members=list(ref.members),
        regime=ref.regime,
        votes=votes,
        signal=signal,
    )


def _of_trade(order: RowMapping, ends: tuple[int, int], decision_id: str | None) -> bool:
    """Whether an order of the trade's symbol, within its span, is the trade's: one of its
    decision, or one at its entry or exit (the closing order carries the decision that closed
    it, or none for a stop). An overlapping trade's orders (a venue that hedges) are not."""
    if order["created_at"] in ends:
        return True
    ref = _decision(order["decision_json"])
    return ref is not None and ref.decision_id == decision_id


def _pick(row: Any, model: type[s.Out]) -> dict[str, Any]:
    return {k: row[k] for k in model.model_fields if k in row}


def trade_trace(engine: Engine, trade_id: str) -> st.TradeTraceOut | None:
    """The trace of ``trade_id`` (any run), or None when no such trade is stored."""
    t, o, r = exec_trades, exec_orders, risk_decisions
    with engine.connect() as conn:
        trade = conn.execute(select(t).where(t.c.trade_id == trade_id)).mappings().first()
        if trade is None:
            return None
        orders = conn.execute(
            select(o)
            .where(o.c.run_id == trade["run_id"], o.c.symbol == trade["symbol"])
            .where(o.c.created_at >= trade["entry_time"], o.c.created_at <= trade["exit_time"])
            .order_by(o.c.created_at, o.c.client_order_id)
        ).mappings().all()  # fmt: skip
        decision = _decision(trade["decision_json"])
        verdicts: Sequence[RowMapping] = ()
        if decision is not None:
            verdicts = conn.execute(
                select(r).where(r.c.decision_id == decision.decision_id)
                .order_by(r.c.id.desc()).limit(MAX_VERDICTS)
            ).mappings().all()  # fmt: skip
    ends = (trade["entry_time"], trade["exit_time"])
    did = None if decision is None else decision.decision_id
    orders = [row for row in orders if _of_trade(row, ends, did)]
    return st.TradeTraceOut(
        run_id=trade["run_id"],
        trade=s.TradeOut(**_pick(trade, s.TradeOut)),
        decision=decision,
        orders=[
            st.TracedOrderOut(
                **_pick(row, st.TracedOrderOut), decision=_decision(row["decision_json"])
            )
            for row in orders
        ],
        risk=[
            st.RiskVerdictOut(
                **_pick(row, st.RiskVerdictOut),
                reasons=json.loads(row["reasons_json"]),
                intent=json.loads(row["intent_json"]),
            )
            for row in verdicts
        ],
        votes_recorded=decision is not None and bool(decision.votes),
        note="" if decision is None or decision.votes else VOTES_NOTE,
    )
