"""The system walk-forward at full size: BTCUSDT + ETHUSDT 1h, 8 folds covering
2022-06-01 → 2024-06-01 (91 days each, the last 94), 365-day sliding training windows.

Runs ``quantum-trader evaluate --system`` in a fresh temporary home (the candle store imported
from QT_DATA_DIR, nothing else reused), once with xgb + lgbm and, with ``--all-models``, once with
the four members, and prints the wall time of each next to the 10-minute budget. The figures and
the evaluation's own tables go to docs/evaluation.md by hand.

Run: ``QT_DATA_DIR=../shared/data python bench/bench_system_eval.py [--all-models |
--only-all-models]``
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 600.0


def data_dir() -> Path:
    env = os.environ.get("QT_DATA_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (path / "ohlcv").is_dir():
        raise SystemExit(f"no market data at {path}: set QT_DATA_DIR")
    return path


def evaluate(models: str, home: Path) -> float:
    env = {
        **os.environ,
        "QT_HOME": str(home),
        "QT_DATA_DIR": str(data_dir()),
        "QT_OFFLINE": "true",
        "AI_ENGINE_ENSEMBLE_MODELS": models,
        "COLUMNS": "200",
    }
    command = [
        str(Path(sys.executable).parent / "quantum-trader"),  # the venv's console script
        "evaluate",
        "--system",
        "--symbols",
        "BTCUSDT,ETHUSDT",
        "--start",
        "2022-06-01",
        "--end",
        "2024-06-01",
        "--folds",
        "8",
        "--train-days",
        "365",
    ]
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True)
    return time.perf_counter() - started


def main() -> None:
    runs = ["xgb,lgbm"] + (["xgb,lgbm,nhits,patchtst"] if "--all-models" in sys.argv else [])
    if "--only-all-models" in sys.argv:
        runs = ["xgb,lgbm,nhits,patchtst"]
    for models in runs:
        with tempfile.TemporaryDirectory(prefix="qt-sys-eval-") as home:
            seconds = evaluate(models, Path(home))
        if models == "xgb,lgbm":
            verdict = "met" if seconds <= BUDGET_S else "NOT met"
            print(f"{models}: {seconds:.0f} s (budget {BUDGET_S:.0f} s: {verdict})")
        else:
            print(f"{models}: {seconds:.0f} s (no budget: reported beside xgb+lgbm's)")


if __name__ == "__main__":
    main()
