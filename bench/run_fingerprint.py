"""What a finished `quantum-trader run` did, as a fingerprint that two runs can be compared by.

Proves "same behaviour" across a restructuring: run the main job from a fresh home before and
after the change, then

    python bench/run_fingerprint.py HOME_BEFORE HOME_AFTER

prints, per section, whether the two runs are identical (exit 1 if any section differs). One
home alone prints its fingerprint as JSON. Sections: the orders, fills, trades, ledger, equity
curve, risk decisions, risk state and mode changes, policy versions, the learned intelligence
state, every module's evidence counters and state, the registered model versions (artifact
hashes: training was bit-identical), the run summary and the metrics (final equity, ledger
digest, event-log hash). Wall-clock times and machine measurements are left out: they differ
by design. The run id is masked in every row; the ledger digest and the event-log hash include
it, so compare runs made with the same run id (``run_main_job(..., run_id=...)``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

#: table → (columns to keep, order by); run ids are masked, wall-clock columns left out
TABLES: dict[str, tuple[str, str]] = {
    "exec_orders": (
        "client_order_id, symbol, side, order_type, quantity, price, stop_price, reduce_only, "
        "status, filled_quantity, average_price, created_at, updated_at, reason",
        "created_at, client_order_id",
    ),
    "exec_fills": (
        "fill_id, client_order_id, symbol, side, quantity, price, fee, time, is_maker",
        "time, fill_id",
    ),
    "exec_trades": (
        "trade_id, symbol, side, quantity, entry_price, exit_price, entry_time, exit_time, pnl, "
        "fees, funding, strategy, exit_reason",
        "exit_time, trade_id",
    ),
    "ledger_entries": ("seq, time, kind, symbol, amount, balance_after, ref", "seq"),
    "equity_snapshots": ("time, equity", "time"),
    "risk_decisions": (
        "decision_id, time, symbol, side, outcome, requested_quantity, final_quantity, "
        "trading_state, risk_mode, reasons_json, intent_json",
        "id",
    ),
    "risk_trading_state": ("at, previous, state, reason, changed_by, halt_latched", "id"),
    "risk_mode_changes": ("at, previous, mode, reasons_json, health_json, policy_version", "id"),
    "policy_versions": ("key, version, value_json, changed_at, changed_by, reason", "id"),
    "model_versions": ("model, scope, horizon, version, stage", "id"),
}

#: evidence counters that measure the machine or the wall clock, not what the run did
VOLATILE_COUNTERS = {"policy_refreshes", "training_worker_peak_rss_mib"}
#: sections shown but not compared: the forecasters' ONNX files differ in bytes between two
#: trainings of the same weights (their votes are equal: ``intelligence_state`` holds them)
INFORMATIONAL = {"artifact_hashes"}

#: summary keys that name the run or the machine, not what it did
SUMMARY_VOLATILE = {"run_id", "report", "outputs", "models_trained"}


def _mask(value: Any, run_id: str) -> Any:
    return value.replace(run_id, "<run>") if isinstance(value, str) and run_id else value


def fingerprint(home: Path) -> dict[str, Any]:
    """Each section of the run in ``home`` (its last run) as plain data."""
    db = sqlite3.connect(f"file:{home / 'quantum_trader.sqlite'}?mode=ro", uri=True)
    run_id, summary_json = db.execute(
        "SELECT run_id, summary_json FROM runs ORDER BY started_at DESC LIMIT 1"
    ).fetchone()
    out: dict[str, Any] = {}
    for table, (columns, order) in TABLES.items():
        rows = db.execute(f"SELECT {columns} FROM {table} ORDER BY {order}").fetchall()  # noqa: S608
        out[table] = [[_mask(v, run_id) for v in row] for row in rows]
    out["intelligence_state"] = {
        _mask(key, run_id): json.loads(state)
        for key, state in db.execute("SELECT key, state_json FROM intelligence_state ORDER BY key")
    }
    out["artifact_hashes"] = db.execute(
        "SELECT model, scope, version, artifact_hash FROM model_versions ORDER BY id"
    ).fetchall()
    out["module_status"] = {
        name: {
            "enabled": enabled,
            "state": state,
            "counters": {
                k: v for k, v in json.loads(counters).items() if k not in VOLATILE_COUNTERS
            },
        }
        for name, enabled, state, counters in db.execute(
            "SELECT name, enabled, state, counters_json FROM module_status ORDER BY name"
        )
    }
    summary = json.loads(summary_json or "{}")
    out["summary"] = {k: v for k, v in summary.items() if k not in SUMMARY_VOLATILE}
    metrics = json.loads((home / "runs" / run_id / "metrics.json").read_text())
    metrics.pop("run_id", None)
    out["metrics"] = metrics
    return out


def digest(section: Any) -> str:
    text = json.dumps(section, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Names of the sections that differ."""
    keys = sorted((before.keys() | after.keys()) - INFORMATIONAL)
    return [k for k in keys if before.get(k) != after.get(k)]


def main(argv: list[str]) -> int:
    if len(argv) == 1:
        print(json.dumps(fingerprint(Path(argv[0])), indent=1, sort_keys=True, default=str))
        return 0
    if len(argv) != 2:
        print(__doc__)
        return 2
    before, after = (fingerprint(Path(a)) for a in argv)
    differing = compare(before, after)
    for name in sorted(before.keys() | after.keys()):
        flag = "DIFFERS" if name in differing else "same"
        if name in INFORMATIONAL:
            flag = "(info)" if before.get(name) != after.get(name) else "same"
        b, a = before.get(name), after.get(name)
        size = len(b) if isinstance(b, list | dict) else ""
        print(f"{name:<20} {flag:<8} {digest(b)} {digest(a)} {size}")
    print(
        f"final equity {before['metrics']['metrics']['final_equity']} → "
        f"{after['metrics']['metrics']['final_equity']}; event-log hash "
        f"{before['metrics']['event_log_hash'][:16]} → {after['metrics']['event_log_hash'][:16]}"
    )
    print("identical" if not differing else f"{len(differing)} section(s) differ: {differing}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
