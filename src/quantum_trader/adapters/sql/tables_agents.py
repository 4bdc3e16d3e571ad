"""Tables of the learning agents: the Q-learning selector's table (``agents/qtable.py``).

``rl_qtables`` holds one row per scope (a run id or a named table) with the learner's counters
and the number of cells saved; ``rl_qtable_cells`` the cells. A save replaces both in one
transaction, so the header's ``cells`` always equals the scope's stored rows: a reader that
finds otherwise has a table that was changed behind the adapter's back.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

from quantum_trader.adapters.sql.metadata import metadata

rl_qtables = Table(
    "rl_qtables",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("state_space", String(200), nullable=False),
    Column("updates", BigInteger, nullable=False),
    Column("trades", BigInteger, nullable=False),
    Column("decisions", BigInteger, nullable=False),
    Column("saved_at", BigInteger, nullable=False),
    Column("cells", Integer, nullable=False),
)

rl_qtable_cells = Table(
    "rl_qtable_cells",
    metadata,
    Column("scope", String(200), ForeignKey("rl_qtables.scope"), nullable=False),
    Column("state", String(64), nullable=False),
    Column("action", String(40), nullable=False),
    Column("q", Float, nullable=False),
    Column("visits", BigInteger, nullable=False),
    PrimaryKeyConstraint("scope", "state", "action"),
)
