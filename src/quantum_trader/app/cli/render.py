"""Rich rendering shared by CLI commands."""

from __future__ import annotations

import json
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

from quantum_trader.domain.time import fmt
from quantum_trader.status.registry import ModuleState, ModuleStatus

console = Console()

_STATE_STYLE = {
    ModuleState.ACTIVE: "green",
    ModuleState.DISABLED: "yellow",
    ModuleState.DEGRADED: "dark_orange",
    ModuleState.FAILED: "red",
}


def status_table(statuses: Iterable[ModuleStatus]) -> Table:
    table = Table(title="Module status", show_lines=False)
    for col in ("module", "state", "reason", "last activity", "evidence"):
        table.add_column(col, overflow="fold")
    for s in statuses:
        evidence = ", ".join(f"{k}={v:,}" for k, v in sorted(s.counters.items())) or "-"
        style = _STATE_STYLE.get(s.state, "")
        last = fmt(s.last_activity) if s.last_activity is not None else "never"
        table.add_row(s.name, f"[{style}]{s.state}[/]", s.reason, last, evidence)
    return table


def statuses_json(statuses: Iterable[ModuleStatus]) -> str:
    return json.dumps(
        [
            {
                "name": s.name,
                "enabled": s.enabled,
                "state": s.state.value,
                "reason": s.reason,
                "run_id": s.run_id,
                "last_heartbeat": s.last_heartbeat,
                "last_activity": s.last_activity,
                "counters": s.counters,
            }
            for s in statuses
        ],
        indent=2,
        sort_keys=True,
    )
