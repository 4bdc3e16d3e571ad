"""The body of the agents route: each learning agent's modules, policy versions, Q-table and
last run figures, as the database holds them. Times are epoch milliseconds, UTC.

A part the database does not hold is ``recorded: false`` (a module with no status row) or
None / an empty list (no policy line, no table, no run that reported the agent): the route
never fills in what was not stored.
"""

from __future__ import annotations

from quantum_trader.api.schemas import Out
from quantum_trader.api.schemas_models import StageChangeOut

#: one figure of a run summary's part, its nested keys joined by dots
Figure = float | int | str | bool | None


class AgentModuleOut(Out):
    name: str  # the status table's module name, e.g. rl_meta_strategy
    number: int  # the module's number in the design (13 …)
    recorded: bool  # False: no status row for it (no run registered it yet)
    enabled: bool | None
    state: str | None  # ACTIVE, DEGRADED, DISABLED …
    reason: str | None
    run_id: str | None
    last_activity: int | None
    counters: dict[str, int]  # its evidence counters ({} when not recorded)


class AgentVersionOut(Out):
    version: int
    stage: str  # its stage now
    created_at: int  # registered (the registry's clock)
    trained_at: int | None  # the training's clock, as its lineage says
    algorithm: str | None
    why: str  # the reason it was registered with (the trainer's)
    metrics: dict[str, float | None]  # held-out evaluation (None: not a finite number)
    changes: list[StageChangeOut]  # its registration and every stage change, oldest first


class PolicyLineOut(Out):
    key: str  # NAME/SCOPE/h0
    production: int | None  # the version the production pointer names now
    shadow: int | None  # the newest version in SHADOW: the one a run serves in its shadow
    versions_total: int
    versions: list[AgentVersionOut]  # the newest ``versions`` of the line, oldest first


class QActionOut(Out):
    q: float  # the action's value in the state (stored cells only: an unvisited one is 0)
    visits: int  # the updates that made it


class QStateOut(Out):
    state: str  # the stored key, e.g. BULL|v2|c1|p+
    # the key decoded (agents/qstate.py); all None when it is not a Q-learning state key
    regime: str | None  # BULL, BEAR, SIDEWAYS, VOLATILE, or NONE during warm-up
    vol: int | None  # volatility bucket, 0 = the lowest
    confidence: int | None  # confidence bucket, 0 = below the strategies' entry threshold
    pnl: int | None  # recent PnL sign: -1, 0, +1
    visits: int  # its actions' visits together
    actions: dict[str, QActionOut]  # by action (strategy), only those stored


class QTableOut(Out):
    scope: str  # e.g. qlearning/BTCUSDT,ETHUSDT/1h
    state_space: str
    cells: int
    updates: int
    trades: int
    decisions: int
    saved_at: int
    actions: list[str]  # every action stored in the table, sorted
    states_total: int  # states with a stored cell
    states: list[QStateOut]  # the most visited of them (``qstates`` at most), most first


class RunFiguresOut(Out):
    run_id: str
    status: str
    started_at: int
    finished_at: int | None
    part: str  # where in the run's summary, e.g. rl_agents or rl_agents.sizer_shadow_pair
    figures: dict[str, Figure]  # its figures, nested keys joined by dots


class AgentOut(Out):
    agent: str  # ppo_selector, qlearning, rl_sizer
    title: str
    description: str
    modules: list[AgentModuleOut]
    policy_name: str | None  # its registry lines' name (None: it keeps no registry line)
    lines: list[PolicyLineOut]
    qtables: list[QTableOut] | None  # None: not an agent with a Q-table
    last_run: RunFiguresOut | None  # None: no recorded run summary reports it


class AgentsOut(Out):
    agents: list[AgentOut]
