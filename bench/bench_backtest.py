"""Event-driven replay vs backtesting.py, side by side, on BTCUSDT-5m with the SMA crossover.

Each engine runs in its own child process (so each peak RSS is its own), on the same candles,
with the same strategy semantics as the cross-check test (fixed size, market orders at the next
open, taker fee 0.05 % on both sides). Ours runs the full engine path: the engine loop on the
simulated clock, the simulated exchange (funding with the real BTC rates, liquidation checks),
the portfolio with its ledger and equity curve, the order manager and the bus events of every
order, fill and trade; no database (a checkpointed run adds SQLite commits).

Ours runs twice: with fast-forward (the default: quiet candles handed over in bulk, see
``Engine.run_columns``) and one candle at a time (``SessionConfig(fast_forward=False)``); both
give the same trades and equity. A third run of ours finds the same crossovers but sends no
order (``--child ours-no-orders``): the difference to the full run is what the order path
costs (order, fill, position, ledger, events, and the stretches an open position makes
dearer), printed per round trip. Both CPU time (``time.process_time``: fair on a shared, loaded
machine) and wall time are reported; the speed ratio uses CPU time. Each measurement is the
best of ``--repeat`` runs; peak RSS is each child process's maximum over those runs.

    PYTHONPATH=src .venv/bin/python bench/bench_backtest.py [--data-dir DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

SYMBOL, TIMEFRAME = "BTCUSDT", "5m"
SETTINGS = [(10, 30), (50, 200)]


def _data_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("QT_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def run_ours(
    data_dir: Path,
    fast: int,
    slow: int,
    repeat: int,
    fast_forward: bool = True,
    orders: bool = True,
) -> dict[str, float]:
    from quantum_trader.adapters.candle_store import CandleStore
    from quantum_trader.backtester.strategies import SmaCross, SmaCrossConfig
    from quantum_trader.engine.session import SessionConfig, TradingSession

    class SignalsOnly(SmaCross):
        """The crossover strategy with its order step replaced by a count: the same replay,
        indicator and fast-forward stretches, without the order path (a measurement aid)."""

        def _target(self, symbol: str, direction: float) -> None:
            self.signals += 1

    strategy = SmaCross if orders else SignalsOnly

    frame = CandleStore(data_dir).load(SYMBOL, TIMEFRAME)
    funding = {SYMBOL: CandleStore(data_dir).funding_rates(SYMBOL)}
    best_cpu = best_wall = float("inf")
    trades = 0
    final = 0.0
    for _ in range(repeat):
        runner = TradingSession(
            SessionConfig(TIMEFRAME, initial_balance=1_000_000.0, fast_forward=fast_forward),
            {SYMBOL: frame},
            strategy(SmaCrossConfig(fast, slow, quantity=1.0)),
            funding_rates=funding,
        )
        gc.collect()  # the previous run's objects go before this one is measured (RSS too)
        cpu, wall = time.process_time(), time.perf_counter()
        result = runner.run()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
        trades, final = len(result.trades), result.metrics.final_equity
    return {
        "bars": len(frame),
        "cpu_s": best_cpu,
        "wall_s": best_wall,
        "trades": trades,
        "final_equity": final,
    }


def run_reference(data_dir: Path, fast: int, slow: int, repeat: int) -> dict[str, float]:
    import pandas as pd
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    from quantum_trader.adapters.candle_store import CandleStore

    frame = CandleStore(data_dir).load(SYMBOL, TIMEFRAME)
    data = pd.DataFrame(
        {
            "Open": frame["open"].to_numpy(),
            "High": frame["high"].to_numpy(),
            "Low": frame["low"].to_numpy(),
            "Close": frame["close"].to_numpy(),
            "Volume": frame["volume"].to_numpy(),
        },
        index=pd.to_datetime(frame["open_time"], unit="ms"),
    )

    def sma(values: object, n: int) -> object:
        return pd.Series(values).rolling(n).mean()

    class Cross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.a = self.I(sma, self.data.Close, fast)
            self.b = self.I(sma, self.data.Close, slow)

        def next(self) -> None:
            if crossover(self.a, self.b):
                self.position.close()
                self.buy(size=1)
            elif crossover(self.b, self.a):
                self.position.close()
                self.sell(size=1)

    best_cpu = best_wall = float("inf")
    trades = 0
    final = 0.0
    warnings.simplefilter("ignore")
    for _ in range(repeat):
        bt = Backtest(data, Cross, cash=1_000_000, commission=0.0005, trade_on_close=False)
        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        stats = bt.run()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
        trades, final = len(stats["_trades"]), float(stats["Equity Final [$]"])
    return {
        "bars": len(frame),
        "cpu_s": best_cpu,
        "wall_s": best_wall,
        "trades": trades,
        "final_equity": final,
    }


def child(which: str, data_dir: Path, fast: int, slow: int, repeat: int) -> None:
    if which == "reference":
        out = run_reference(data_dir, fast, slow, repeat)
    else:
        out = run_ours(
            data_dir,
            fast,
            slow,
            repeat,
            fast_forward=which != "ours-per-candle",
            orders=which != "ours-no-orders",
        )
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--child", choices=["ours", "ours-per-candle", "ours-no-orders", "reference"]
    )
    parser.add_argument("--fast", type=int, default=10)
    parser.add_argument("--slow", type=int, default=30)
    args = parser.parse_args()
    data_dir = _data_dir(args.data_dir)
    if args.child:
        child(args.child, data_dir, args.fast, args.slow, args.repeat)
        return
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = os.environ | {"PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    print(f"{SYMBOL}-{TIMEFRAME}, best of {args.repeat}; CPU time (process_time) and wall time")
    print(f"load average now: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (shared machine)")
    for fast, slow in SETTINGS:
        results = {}
        for which in ("ours", "ours-per-candle", "ours-no-orders", "reference"):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                which,
                "--data-dir",
                str(data_dir),
                "--repeat",
                str(args.repeat),
                "--fast",
                str(fast),
                "--slow",
                str(slow),
            ]
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            results[which] = json.loads(proc.stdout.strip().splitlines()[-1])
        ours, per_candle, ref = results["ours"], results["ours-per-candle"], results["reference"]
        no_orders = results["ours-no-orders"]
        assert per_candle["trades"] == ours["trades"], "fast-forward changed the trades"
        assert per_candle["final_equity"] == ours["final_equity"], "fast-forward changed equity"
        print(
            f"\nSMA({fast},{slow}): {ours['bars']:,} candles, trades ours {ours['trades']} / "
            f"backtesting.py {ref['trades']}, final equity {ours['final_equity']:,.2f} / "
            f"{ref['final_equity']:,.2f} (ours pays funding; backtesting.py has none)"
        )
        for name, r in (
            ("quantum-trader", ours),
            ("  per-candle", per_candle),
            ("backtesting.py", ref),
        ):
            print(
                f"  {name:15s} cpu {r['cpu_s']:.3f} s = {r['bars'] / r['cpu_s']:>9,.0f} bars/s | "
                f"wall {r['wall_s']:.3f} s = {r['bars'] / r['wall_s']:>9,.0f} bars/s | "
                f"peak RSS {r['peak_rss_mb']:.0f} MB"
            )
        print(
            f"  speed ratio (CPU time): {ref['cpu_s'] / ours['cpu_s']:.2f}x   "
            f"(wall time: {ref['wall_s'] / ours['wall_s']:.2f}x; one candle at a time: "
            f"{ref['cpu_s'] / per_candle['cpu_s']:.2f}x CPU)"
        )
        order_path = (ours["cpu_s"] - no_orders["cpu_s"]) / max(ours["trades"], 1)
        print(
            f"  without orders (same signals): cpu {no_orders['cpu_s']:.3f} s; the order path "
            f"costs {order_path * 1e6:.1f} us per round trip, "
            f"{(ours['cpu_s'] - no_orders['cpu_s']) / ours['cpu_s']:.0%} of the run"
        )


if __name__ == "__main__":
    main()
