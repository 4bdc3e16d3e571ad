"""Tables of the risk area: risk decisions, trading state, the drawdown breaker's memory, kill
switch, risk-mode changes, strategies benched and re-admitted for their expectancy.

All append-only: the newest row of a history is the current state, the rest is the audit.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table, Text

from quantum_trader.adapters.sql.metadata import metadata

risk_decisions = Table(
    "risk_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("decision_id", String(100), nullable=False, index=True),
    Column("time", BigInteger, nullable=False, index=True),
    Column("symbol", String(40), nullable=False),
    Column("side", String(8), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("requested_quantity", Float, nullable=False),
    Column("final_quantity", Float, nullable=False),
    Column("trading_state", String(16), nullable=False),
    Column("risk_mode", String(16), nullable=False),
    Column("reasons_json", Text, nullable=False),
    Column("intent_json", Text, nullable=False),
)

risk_trading_state = Table(
    "risk_trading_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("previous", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("changed_by", String(200), nullable=False),
    Column("halt_latched", Integer, nullable=False),
    Column("recorded_at", BigInteger, nullable=True),  # wall clock (audit_0001)
)

#: the drawdown breaker's peaks, releases and timers (risk/state.py), a row per change
risk_breaker_state = Table(
    "risk_breaker_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("breaker_peak", Float, nullable=False),
    Column("all_time_peak", Float, nullable=False),
    Column("releases", Integer, nullable=False),
    Column("reducing_by_drawdown", Integer, nullable=False),
    Column("reducing_since", BigInteger, nullable=True),
    Column("flat_since", BigInteger, nullable=True),
)

risk_kill_switch = Table(
    "risk_kill_switch",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("engaged", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("changed_by", String(200), nullable=False),
    Column("changed_at", BigInteger, nullable=False),
)

risk_mode_changes = Table(
    "risk_mode_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("previous", String(16), nullable=True),
    Column("mode", String(16), nullable=False),
    Column("reasons_json", Text, nullable=False),
    Column("health_json", Text, nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("recorded_at", BigInteger, nullable=True),  # wall clock (audit_0001)
    Column("changed_by", String(64), nullable=True),  # engine:<run id> (audit_0002)
)

#: strategies benched for a significantly negative expectancy in a regime, and re-admitted
#: (strategy/expectancy.py), with the statistics that decided it
strategy_bench_changes = Table(
    "strategy_bench_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("strategy", String(40), nullable=False),
    Column("regime", String(16), nullable=False),
    Column("benched", Integer, nullable=False),
    Column("until", BigInteger, nullable=True),
    Column("trades", Integer, nullable=False),
    Column("mean_return", Float, nullable=False),
    Column("t_stat", Float, nullable=False),
    Column("reason", Text, nullable=False),
)
