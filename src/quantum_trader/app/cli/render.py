"""Rich rendering shared by CLI commands."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from rich.console import Console
from rich.table import Table

from quantum_trader.domain.time import fmt
from quantum_trader.models.ensemble.ensemble import VOTE_BUCKET_PREFIX
from quantum_trader.status.registry import ModuleState, ModuleStatus
from quantum_trader.status.services import ServiceProcess


def console(*, stderr: bool = False) -> Console:
    """A console per use: it reads the terminal's width (``COLUMNS``) when it prints, not
    once at import, so a command's tables fit the terminal it runs in."""
    return Console(stderr=stderr)


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
        evidence = table_evidence(s.counters)
        style = _STATE_STYLE.get(s.state, "")
        last = fmt(s.last_activity) if s.last_activity is not None else "never"
        table.add_row(s.name, f"[{style}]{s.state}[/]", s.reason, last, evidence)
    return table


def table_evidence(counters: Mapping[str, int]) -> str:
    """A module's counters for the table; the ensemble's vote-time histogram buckets (11 per
    member, for ``/metrics``) are folded into one note, kept whole in ``--json``.

    >>> table_evidence({"votes": 1200, "live_vote_le_50us.xgb": 3, "live_vote_le_100us.xgb": 1})
    'votes=1,200 (+2 vote-time buckets: --json, /metrics)'
    >>> table_evidence({})
    '-'
    """
    shown = {k: v for k, v in counters.items() if not k.startswith(VOTE_BUCKET_PREFIX)}
    text = ", ".join(f"{k}={v:,}" for k, v in sorted(shown.items()))
    folded = len(counters) - len(shown)
    if folded:
        text += f"{' ' if text else ''}(+{folded} vote-time buckets: --json, /metrics)"
    return text or "-"


def statuses_json(
    statuses: Iterable[ModuleStatus],
    processes: Mapping[str, ServiceProcess] | None = None,
    now: int = 0,
) -> str:
    """The modules as JSON; with ``processes`` (module name → the process reporting it, at
    wall time ``now``) each names its ``process`` and that process's ``process_state``."""
    by_module = processes or {}
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
                **_process_fields(by_module.get(s.name), now),
            }
            for s in statuses
        ],
        indent=2,
        sort_keys=True,
    )


def _process_fields(process: ServiceProcess | None, now: int) -> dict[str, str | None]:
    if process is None:
        return {"process": None, "process_state": None}
    return {"process": process.process_id, "process_state": process.state(now).value}


def services_table(processes: Iterable[ServiceProcess], now: int) -> Table:
    """The processes serving the database: role, where, state, last beat, modules."""
    table = Table(title="Processes", show_lines=False)
    for col in ("role", "process", "state", "started", "last beat", "modules"):
        table.add_column(col, overflow="fold")
    for p in processes:
        state = p.state(now)
        style = {"UP": "green", "DOWN": "red"}.get(state.value, "yellow")
        age = (
            f"{max(0, now - p.beat_at) / 1000:.0f} s ago (DOWN after {p.down_after_ms() // 1000} s)"
        )
        table.add_row(
            p.role, f"pid {p.pid} on {p.host}" + (f", run {p.run_id}" if p.run_id else ""),
            f"[{style}]{state.value}[/]", fmt(p.started_at), age, modules_cell(p.modules),
        )  # fmt: skip
    return table


def modules_cell(modules: tuple[str, ...]) -> str:
    """How many modules a process reports, and their names when they are a service role's few
    (the engine's two dozen are the Module status table above).

    >>> modules_cell(("candle_stream",)), modules_cell(("a", "b", "c", "d")), modules_cell(())
    ('1: candle_stream', '4', '0')
    """
    shown = ", ".join(modules) if 0 < len(modules) <= 3 else ""
    return f"{len(modules)}: {shown}" if shown else str(len(modules))


def summary_table(summary: dict[str, object]) -> Table:
    table = Table(title=f"Run {summary.get('run_id', '')}")
    table.add_column("item")
    table.add_column("value", overflow="fold")
    for key, value in summary.items():
        if key in {"metrics", "outputs"}:
            continue
        table.add_row(key, json.dumps(value, default=str) if not isinstance(value, str) else value)
    return table


def metrics_table(metrics: dict[str, object]) -> Table:
    table = Table(title="Metrics (from simulated trades and equity)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, float):
            text = f"{value:.4f}"
        else:
            text = "n/a" if value is None else str(value)
        table.add_row(key, text)
    return table
