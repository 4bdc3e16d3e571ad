"""What the event outbox (adapters/sql/event_outbox.py) costs the engine.

1. *the recorder and a batch*: the append per event, and one batch of 256 risk decisions
   written to a SQLite file (JSON encoding, insert, prune, commit);
2. *decision latency* (with ``QT_DATA_DIR``): the main job's live path (votes candle by
   candle; candle in → risk-checked order out) on SYMBOLS over REPLAY_DAYS, once with the
   outbox and once without it (this bench unhooks it; the code has no switch), each in its own
   process after a process that trains the models.

Run: ``QT_DATA_DIR=../shared/data PYTHONPATH=src python bench/bench_event_outbox.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_pipeline import CHILD, child
from quantum_trader.adapters.sql.database import open_database
from quantum_trader.adapters.sql.event_outbox import BATCH_SIZE, EventOutboxWriter
from quantum_trader.bus import topics
from quantum_trader.domain.orders import OrderIntent, Side
from quantum_trader.domain.policy import RiskMode
from quantum_trader.domain.risk import Outcome, RiskDecision, TradingState

SYMBOLS = "BTCUSDT,ETHUSDT,SOLUSDT"
REPLAY_DAYS = int(os.environ.get("BENCH_REPLAY_DAYS", "30"))
#: tree models only: the forecasters' training would dominate the bench's time
MODELS = '["xgb","lgbm"]'
BATCHES = 200

#: the serving child without the outbox: the runtime's wiring of it made a no-op
WITHOUT_OUTBOX = "import quantum_trader.app.runtime as r\nr._wire_event_outbox = lambda *a: None\n"
#: and what each child wrote to the outbox
COUNTED = CHILD.replace(
    "print(json.dumps({",
    'bus = result.runtime.modules["bus_and_policy"].status.counters\n'
    'print(json.dumps({\n    "outbox_events": bus.get("outbox_events_written", 0),\n'
    '    "events_published": bus.get("events_published", 0),',
)


def _decision_payload() -> tuple[tuple[str, ...], tuple[object, ...]]:
    intent = OrderIntent(
        "BTCUSDT", Side.BUY, 0.5, stop_loss=90.0, take_profit=120.0, reason="TrendFollowing"
    )
    decision = RiskDecision(
        "d1", Outcome.APPROVED, intent, 0.5, ("max_leverage: trimmed",), 1,
        TradingState.ACTIVE, RiskMode.MODERATE,
    )  # fmt: skip
    payload = topics.RISK_DECISION.encode(decision)
    return tuple(payload), tuple(payload.values())


def recorder_and_batch() -> None:
    keys, values = _decision_payload()
    with tempfile.TemporaryDirectory(prefix="qt-outbox-") as tmp:
        engine = open_database(f"sqlite:///{Path(tmp) / 'qt.sqlite'}")
        writer = EventOutboxWriter(engine, "bench")
        appends, batches = [], []
        for _ in range(BATCHES):
            started = time.perf_counter_ns()
            for i in range(BATCH_SIZE - 1):
                writer.record("risk.decision", i, "risk", keys, values)
            appends.append((time.perf_counter_ns() - started) / (BATCH_SIZE - 1))
            started = time.perf_counter_ns()
            writer.record("risk.decision", 0, "risk", keys, values)  # fills the batch
            batches.append((time.perf_counter_ns() - started) / 1e6)
        engine.dispose()
    batches.sort()
    print(f"recorder: {statistics.median(appends):.0f} ns per event kept (median)")
    print(
        f"one batch of {BATCH_SIZE} risk decisions to SQLite: p50 {batches[len(batches) // 2]:.2f} ms, "
        f"p90 {batches[int(len(batches) * 0.9)]:.2f} ms, max {batches[-1]:.2f} ms "
        f"({BATCHES} batches)"
    )


def decision_latency() -> None:
    extra = {"AI_ENGINE_ENSEMBLE_MODELS": MODELS, "QT_RL_AGENTS": "false"}
    with tempfile.TemporaryDirectory(prefix="qt-bench-") as tmp:
        home = Path(tmp)
        child(home, 1, symbols=SYMBOLS, extra_env=extra)  # trains the models
        runs = {
            "with the outbox": COUNTED,
            "without the outbox": WITHOUT_OUTBOX + COUNTED,
        }
        for name, script in runs.items():
            run = child(
                home, REPLAY_DAYS, batch_votes=False, script=script, symbols=SYMBOLS,
                extra_env=extra,
            )  # fmt: skip
            lat = run["latency_us"]
            assert isinstance(lat, dict)
            print(
                f"{name}: {run['decisions']:,} decisions, p50 {lat['p50']:.0f} µs, "
                f"p99 {lat['p99']:.0f} µs, max {lat['max']:.0f} µs; "
                f"{run['outbox_events']:,} of {run['events_published']:,} events to the outbox; "
                f"replay {run['replay_seconds']:.1f} s"
            )


def main() -> None:
    print(f"machine: {os.cpu_count()} cores")
    recorder_and_batch()
    if not os.environ.get("QT_DATA_DIR"):
        sys.exit("decision latency: set QT_DATA_DIR (e.g. ../shared/data)")
    print(f"main job, live path, {SYMBOLS}, {REPLAY_DAYS} days, models {MODELS}:")
    decision_latency()


if __name__ == "__main__":
    main()
