"""Batch votes of a replay equal the streaming path: same votes bit for bit, same decisions.

The main job replays real candles twice on one database (models trained once): with the
replay's votes computed in batch beforehand (``QT_REPLAY_BATCH_VOTES``, the default) and with
every member voting candle by candle. Everything the votes feed must be identical: the
intelligence modules' learned state (it folds in every vote's probabilities, so equal state
means equal votes), the signals, strategy choices, risk decisions, orders and trades.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

from quantum_trader.adapters.sql.intelligence_state import SqlIntelligenceStateRepository
from quantum_trader.app.main_job import RunResult, run_main_job
from quantum_trader.config import load_settings

SAME = (
    "decisions",
    "signals",
    "strategies_chosen",
    "trade_intents",
    "risk_decisions",
    "orders_sent",
    "regimes_at_end",
    "trades",
    "metrics",
)


def _learned(result: RunResult) -> dict[str, object]:
    repo = SqlIntelligenceStateRepository(result.runtime.db)
    prefix = f"intelligence/{result.run_id}"
    parts = ("ledger", "memory_states", "reinforcement", "drift_detection")
    return {p: json.loads(repo.load(f"{prefix}/{p}") or "null") for p in parts}


def _trades(result: RunResult) -> list[str]:
    """The trades file without its first column (trade ids start with the run id)."""
    lines = Path(result.outputs["trades"]).read_text().splitlines()
    return [line.split(",", 1)[1] for line in lines]


@pytest.mark.slow
def test_batch_votes_replay_equals_the_streaming_replay(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path
) -> None:
    monkeypatch = clean_env
    monkeypatch.setenv("QT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("QT_REPLAY_DAYS", "10")
    monkeypatch.setenv("QT_TRAIN_DAYS", "90")
    monkeypatch.setenv("QT_OFFLINE", "true")  # the replay only, no live phase after it

    switch_interval = sys.getswitchinterval()
    batch = run_main_job(load_settings())  # trains, then replays with batch votes
    # the worker threads are gone and the interpreter's switch interval is back
    assert sys.getswitchinterval() == switch_interval
    assert not [t for t in threading.enumerate() if t.name.startswith(("batch-votes", "member"))]
    monkeypatch.setenv("QT_REPLAY_BATCH_VOTES", "false")
    streaming = run_main_job(load_settings())

    assert batch.summary["decisions"] > 400
    for key in SAME:
        assert batch.summary[key] == streaming.summary[key], key
    assert _trades(batch) == _trades(streaming)
    learned = _learned(batch)
    assert learned["reinforcement"] is not None and learned["ledger"] is not None
    assert learned == _learned(streaming)

    counters = {s.name: s.counters for s in batch.runtime.status.snapshot()}["ensemble"]
    # every member's vote of every decision past the warm-up came from the batch
    assert counters["batch_votes_served"] >= 4 * (batch.summary["decisions"] - 200)
    assert counters.get("batch_inputs_mismatched", 0) == 0
    streamed = {s.name: s.counters for s in streaming.runtime.status.snapshot()}["ensemble"]
    assert "batch_votes_served" not in streamed
